"""Estates shaped like public Pulumi multi-project repositories, written by the tests (no files copied).

Each declares nothing (no estate.yaml, no app.yaml): the orchestrator must order them by inference alone, the
way a new user would point it at a repository it did not create.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import yaml


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def project(
    root: Path, rel: str, name: str, runtime: object, stacks: Mapping[str, Mapping[str, object]]
) -> Path:
    """``Pulumi.yaml`` and one stack file per entry of ``stacks`` (stack name -> config)."""
    path = root / rel
    write(path / "Pulumi.yaml", yaml.safe_dump({"name": name, "runtime": runtime}, sort_keys=False))
    for stack, config in stacks.items():
        write(path / f"Pulumi.{stack}.yaml", yaml.safe_dump({"config": dict(config)}, sort_keys=True))
    return path


def python_config_estate(root: Path) -> None:
    """company <- department <- team, the shape of Pulumi's multi-stack examples: each StackReference name
    comes from config (a whole name, a project name in an f-string, an object's field), per stack."""
    stacks = ("dev", "prod")
    project(root, "company", "company", "python", {s: {"company:name": "acme"} for s in stacks})
    write(root / "company/__main__.py", 'import pulumi\n\npulumi.export("companyName", "acme")\n')
    project(
        root,
        "department",
        "department",
        "python",
        {s: {"department:companyStack": f"organization/company/{s}"} for s in stacks},
    )
    write(
        root / "department/__main__.py",
        "import pulumi\n\nconfig = pulumi.Config()\n"
        'company = pulumi.StackReference(config.require("companyStack"))\n'
        'pulumi.export("companyName", company.get_output("companyName"))\n',
    )
    project(
        root,
        "team",
        "team",
        "python",
        {s: {"team:parent": "department", "team:links": {"audit": "company"}} for s in stacks},
    )
    write(
        root / "team/__main__.py",
        "import pulumi\n\n"
        "cfg = pulumi.Config()\n"
        'org = cfg.get("org") or pulumi.get_organization()\n'
        "parent = pulumi.StackReference(f\"{org}/{cfg.require('parent')}/{pulumi.get_stack()}\")\n"
        'audit_name = org + "/" + cfg.require_object("links")["audit"] + "/" + pulumi.get_stack()\n'
        "audit = pulumi.StackReference(audit_name)\n"
        'pulumi.export("parent", parent.get_output("companyName"))\n',
    )
    # Not a stack: the description file some examples keep beside their stacks.
    write(root / "team/Pulumi.README.yaml", "description: how to run the team stack\n")


def typescript_estate(root: Path) -> None:
    """Numbered self-hosting layers, each its own project, names built from config templates in TypeScript
    and JavaScript (one project of JavaScript), one literal, one reference through a named-args object."""

    def layer(number: str, name: str, source: str, filename: str = "index.ts", key: str = "org") -> None:
        full = f"selfhosted-{number}-{name}"
        project(root, f"{number}-{name}", full, "nodejs", {"dev": {f"{full}:{key}": "organization"}})
        write(root / f"{number}-{name}" / filename, source)
        write(root / f"{number}-{name}" / "package.json", json.dumps({"name": full}) + "\n")

    header = 'import * as pulumi from "@pulumi/pulumi";\nconst config = new pulumi.Config();\n'
    layer("01", "iam", header + 'export const roleArn = "arn:aws:iam::123456789012:role/x";\n')
    layer(
        "02",
        "networking",
        header + 'const org = config.require("org");\nconst stack = pulumi.getStack();\n'
        "const iam = new pulumi.StackReference(`${org}/selfhosted-01-iam/${stack}`);\n"
        'export const vpcId = "vpc-1";\n',
    )
    layer(
        "03",
        "cluster",
        'const pulumi = require("@pulumi/pulumi");\nconst config = new pulumi.Config();\n'
        "const net = new pulumi.StackReference(\n"
        '  config.require("org") + "/selfhosted-02-networking/" + pulumi.getStack()\n);\n',
        filename="index.js",
    )
    layer(
        "04",
        "database",
        header + 'const net = new pulumi.StackReference("organization/selfhosted-02-networking/dev");\n',
    )
    layer(
        "05",
        "app",
        'import { Config, StackReference, getStack } from "@pulumi/pulumi";\n'
        "const cfg = new Config();\n"
        'const org = cfg.get("org") ?? "organization";\n'
        'const db = new StackReference("db", { name: `${org}/selfhosted-04-database/${getStack()}` });\n'
        "const cluster = new StackReference(`${org}/selfhosted-03-cluster/${getStack()}`);\n",
        key="owner",  # no `org` in its stack: the program's default applies
    )
    # Dependencies a bundler left behind are never the program's references.
    write(
        root / "05-app/node_modules/@pulumi/pulumi/index.js",
        'new StackReference("organization/selfhosted-01-iam/dev");\n',
    )


def go_estate(root: Path) -> None:
    """network <- cluster <- service in Go: fmt.Sprintf over a config value and ctx.Stack(), and a whole
    stack name from config through the package-level config.Require."""
    project(root, "network", "network", "go", {"dev": {"network:cidr": "10.0.0.0/16"}})
    write(
        root / "network/main.go",
        "package main\n\nfunc main() { pulumi.Run(func(ctx *pulumi.Context) error {\n"
        '\tctx.Export("vpcId", pulumi.String("vpc-1"))\n\treturn nil\n}) }\n',
    )
    project(root, "cluster", "cluster", "go", {"dev": {"cluster:org": "organization"}})
    write(
        root / "cluster/main.go",
        'package main\n\nimport (\n\t"fmt"\n\n\t"github.com/pulumi/pulumi/sdk/v3/go/pulumi"\n'
        '\t"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"\n)\n\n'
        "func main() {\n\tpulumi.Run(func(ctx *pulumi.Context) error {\n"
        '\t\tcfg := config.New(ctx, "")\n\t\torg := cfg.Require("org")\n'
        '\t\tnet, err := pulumi.NewStackReference(ctx, fmt.Sprintf("%s/network/%s", org, ctx.Stack()), nil)\n'
        "\t\tif err != nil {\n\t\t\treturn err\n\t\t}\n"
        '\t\tctx.Export("vpcId", net.GetOutput(pulumi.String("vpcId")))\n\t\treturn nil\n\t})\n}\n',
    )
    project(root, "service", "service", "go", {"dev": {"service:clusterStack": "organization/cluster/dev"}})
    write(
        root / "service/main.go",
        "package main\n\nfunc main() {\n\tpulumi.Run(func(ctx *pulumi.Context) error {\n"
        '\t\tname := config.Require(ctx, "clusterStack")\n'
        "\t\t_, err := pulumi.NewStackReference(ctx, name, nil)\n\t\treturn err\n\t})\n}\n",
    )


def yaml_estate(root: Path) -> None:
    """A Pulumi YAML producer and consumers in YAML (interpolating config, a variable and pulumi.stack),
    C# (an interpolated string over Deployment.Instance.StackName) and Java (a builder's name)."""
    project(root, "vpc", "vpc", "yaml", {"dev": {"vpc:cidr": "10.0.0.0/16"}})
    vpc = yaml.safe_load((root / "vpc/Pulumi.yaml").read_text())
    vpc["outputs"] = {"vpcId": "vpc-1"}
    write(root / "vpc/Pulumi.yaml", yaml.safe_dump(vpc, sort_keys=False))
    project(root, "web", "web", "yaml", {"dev": {"web:org": "organization"}})
    web = yaml.safe_load((root / "web/Pulumi.yaml").read_text())
    web["config"] = {"org": {"type": "string"}}
    web["variables"] = {"vpcStack": "${org}/vpc/${pulumi.stack}"}
    web["resources"] = {
        "network": {"type": "pulumi:pulumi:StackReference", "properties": {"name": "${vpcStack}"}},
    }
    write(root / "web/Pulumi.yaml", yaml.safe_dump(web, sort_keys=False))
    project(root, "api", "api", "dotnet", {"dev": {"api:org": "organization"}})
    write(
        root / "api/Program.cs",
        "using Pulumi;\n\nreturn await Deployment.RunAsync(() =>\n{\n"
        '    var config = new Config();\n    var org = config.Require("org");\n'
        '    var vpc = new StackReference($"{org}/vpc/{Deployment.Instance.StackName}");\n'
        "});\n",
    )
    project(root, "worker", "worker", "java", {"dev": {"worker:org": "organization"}})
    write(
        root / "worker/src/main/java/worker/App.java",
        "package worker;\n\nimport com.pulumi.Pulumi;\nimport com.pulumi.resources.StackReference;\n"
        "import com.pulumi.resources.StackReferenceArgs;\n\npublic class App {\n"
        "    public static void main(String[] args) {\n        Pulumi.run(ctx -> {\n"
        '            var org = ctx.config().require("org");\n'
        '            var api = new StackReference("api", StackReferenceArgs.builder()\n'
        '                .name(org + "/api/" + ctx.stackName()).build());\n'
        "        });\n    }\n}\n",
    )


def renamed_stacks_estate(root: Path) -> None:
    """Projects whose stacks for one environment have different names (``development`` here, ``dev``
    there), mapped once in the root estate.yaml."""
    project(
        root,
        "net",
        "net",
        "python",
        {"development": {"net:cidr": "10.0.0.0/16"}, "prod": {"net:cidr": "10.1.0.0/16"}},
    )
    write(root / "net/__main__.py", 'import pulumi\n\npulumi.export("vpcId", "vpc-1")\n')
    project(
        root,
        "app",
        "app",
        "python",
        {"dev": {"app:netStack": "development"}, "prod": {"app:netStack": "prod"}},
    )
    write(
        root / "app/__main__.py",
        "import pulumi\n\nconfig = pulumi.Config()\n"
        "net = pulumi.StackReference(f\"organization/net/{config.require('netStack')}\")\n",
    )
    write(root / "estate.yaml", yaml.safe_dump({"environments": {"dev": {"stacks": {"net": "development"}}}}))


FOREIGN_PROGRAM = '''"""{name}: one component; exports what it read, so a reference that resolved wrongly shows."""

import pulumi

config = pulumi.Config()


class Site(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("foreign:index:Site", name, None, None)
        self.register_outputs({{}})


Site("{name}-site")
{body}
'''


def foreign_python_repo(root: Path, salts: Mapping[str, str]) -> None:
    """A repository we did not create: two Python projects, each with its own requirements.txt, one naming
    its virtualenv (not created yet), one naming none (Pulumi would run it on python3 from PATH); the app
    takes its StackReference name from config; the stack files are committed with their salts."""
    base = project(
        root,
        "infra/base",
        "infra-base",
        {"name": "python", "options": {"virtualenv": "venv"}},
        {"dev": {"infra-base:region": "eu-west-1"}},
    )
    app = project(
        root,
        "infra/app",
        "infra-app",
        "python",
        {"dev": {"infra-app:baseStack": "organization/infra-base/dev"}},
    )
    for path, name, body in (
        (base, "infra-base", 'pulumi.export("region", config.require("region"))'),
        (
            app,
            "infra-app",
            (
                'base = pulumi.StackReference(config.require("baseStack"))\n'
                'pulumi.export("baseRegion", base.require_output("region"))'
            ),
        ),
    ):
        write(path / "__main__.py", FOREIGN_PROGRAM.format(name=name, body=body))
        write(path / "requirements.txt", f"pulumi=={_pulumi_version()}\n")
        stack_file = path / "Pulumi.dev.yaml"
        data = yaml.safe_load(stack_file.read_text(encoding="utf-8"))
        data["encryptionsalt"] = salts[name]
        stack_file.write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")
    write(root / ".gitignore", "venv/\n.state/\n.reports/\n")


def _pulumi_version() -> str:
    from importlib import metadata

    return metadata.version("pulumi")
