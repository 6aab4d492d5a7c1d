"""The estate's policy pack: every rule of appofapps.guardrails, served to the engine."""

from appofapps.guardrails.pack import serve

serve()
