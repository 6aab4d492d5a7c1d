"""estate-root: the app of apps - one catalog of every team app deployed in this environment."""

from pathlib import Path

import pulumi

from appofapps import config
from appofapps.contracts import ROOT, app_contract, export
from appofapps.engine.pins import repo_root
from appofapps.manifest import load_estate
from appofapps.stackrefs import Upstream

config.common()
estate = load_estate(repo_root(Path(__file__).parent))

# Catalog field -> the app contract key it is read from.
CATALOG_FIELDS = {
    "team": "team",
    "owner": "owner",
    "image": "image",
    "endpoint": "endpoint",
    "depends_on": "calls",
    "platform_outputs": "platform_outputs",
}
entries = {}
for manifest in estate.apps.values():
    upstream = Upstream(app_contract(manifest.team, manifest.name))
    entries[manifest.project] = {field: upstream.require(key) for field, key in CATALOG_FIELDS.items()}

export(ROOT, {"catalog": pulumi.Output.from_input(entries)})
