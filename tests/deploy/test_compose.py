"""docker-compose.yml and the Dockerfile, checked without Docker: the compose file is valid by the
Compose Specification's JSON schema, sets only real settings, runs only real CLI verbs, and the
image is a locked, non-root install with a health check."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cli.main import build_parser
from runtime.production import production_problems
from runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SETTINGS = {"MEDIVOY_" + name.upper() for name in Settings.model_fields}
# Interpolation: ${NAME}, ${NAME:-default}, ${NAME:?message}; $$ is a literal dollar.
INTERPOLATED = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+]([^}]*))?\}")
LONG_RUNNING = ("postgres", "temporal", "temporal-ui", "redis", "api", "worker", "proxy")
ONE_SHOT = ("temporal-schema", "temporal-register", "migrate")


def _compose_schema() -> dict[str, Any]:
    """The Compose Specification's schema, as check-jsonschema vendors it (with its license)."""
    vendor = files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text())
    return schema


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _interpolate(value: str, env: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if ":?" in match.group(0):
            raise KeyError(f"{name} is required: {default}")
        return default or ""

    return INTERPOLATED.sub(one, value).replace("$$", "$")


def _service_env(service: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    given = service.get("environment") or {}
    assert isinstance(given, dict), "environment as a mapping, please"
    return {key: _interpolate(str(value), env) for key, value in given.items()}


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _medivoy_commands() -> list[tuple[str, list[str]]]:
    """Every `medivoy ...` command line of the compose file and the Dockerfile."""
    commands: list[tuple[str, list[str]]] = []
    for name, service in _compose()["services"].items():
        for where, value in (
            ("command", service.get("command")),
            ("healthcheck", (service.get("healthcheck") or {}).get("test")),
        ):
            if isinstance(value, list) and value and value[0] in ("CMD", "CMD-SHELL"):
                value = value[1:] if value[0] == "CMD" else shlex.split(value[1])
            elif isinstance(value, str):
                value = shlex.split(value)
            if value and value[0] == "medivoy":
                commands.append((f"{name} {where}", value[1:]))
    for word, rest in _dockerfile_instructions():
        if word == "CMD" or word == "HEALTHCHECK":
            exec_form = rest[rest.index("[") :] if "[" in rest else None
            assert exec_form, f"{word} in exec form, please: {rest}"
            argv = json.loads(exec_form)
            if argv[0] == "medivoy":
                commands.append((f"Dockerfile {word}", argv[1:]))
    return commands


def test_compose_file_is_valid_by_the_compose_specification() -> None:
    jsonschema.validate(_compose(), _compose_schema())


def test_the_schema_check_catches_a_broken_compose_file() -> None:
    broken = _compose()
    broken["services"]["api"]["restart"] = ["always"]
    broken["services"]["worker"]["deploy"]["replicass"] = 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, _compose_schema())


def test_every_medivoy_variable_the_compose_file_names_is_a_real_setting() -> None:
    text = COMPOSE.read_text()
    named = {m.group(1) for m in INTERPOLATED.finditer(text) if m.group(1).startswith("MEDIVOY_")}
    for service in _compose()["services"].values():
        named |= {key for key in (service.get("environment") or {}) if key.startswith("MEDIVOY_")}
    named |= {
        key
        for word, rest in _dockerfile_instructions()
        if word == "ENV"
        for key in re.findall(r"(MEDIVOY_[A-Z0-9_]+)=", rest)
    }
    assert named, "the compose file sets no MEDIVOY_ variable?"
    unknown = sorted(named - SETTINGS)
    assert not unknown, f"not settings in runtime/settings.py: {unknown}"


def test_the_compose_settings_pass_the_production_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "POSTGRES_PASSWORD": "pg-secret",
        "MEDIVOY_JWT_SECRET": "j" * 48,
        "MEDIVOY_PAYLOAD_KEYS": json.dumps({"2026-12": base64.b64encode(b"k" * 32).decode()}),
    }
    for name in list(os.environ):
        if name.upper().startswith("MEDIVOY_"):
            monkeypatch.delenv(name)
    for key, value in _service_env(_compose()["services"]["api"], env).items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.is_production
    assert production_problems(settings) == []
    assert settings.database_url == "postgresql://medivoy:pg-secret@postgres:5432/medivoy"
    assert settings.temporal_address == "temporal:7233"
    assert settings.redis_url.startswith("redis://redis:")
    assert settings.codec_cors_origins == ["http://localhost:8080"]
    assert settings.payload_codec is not None


def test_the_required_secrets_must_be_given() -> None:
    with pytest.raises(KeyError, match="MEDIVOY_JWT_SECRET"):
        _service_env(_compose()["services"]["api"], {"POSTGRES_PASSWORD": "x"})
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        _service_env(
            _compose()["services"]["api"],
            {"MEDIVOY_JWT_SECRET": "x" * 40, "MEDIVOY_PAYLOAD_KEYS": "{}"},
        )
    for service in ("api", "worker"):
        with pytest.raises(KeyError, match="MEDIVOY_PAYLOAD_KEYS"):
            _service_env(
                _compose()["services"][service],
                {"POSTGRES_PASSWORD": "x", "MEDIVOY_JWT_SECRET": "x" * 40},
            )


def test_the_stack_has_every_part_with_health_checks_restarts_and_volumes() -> None:
    compose = _compose()
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:18")
    assert "temporalio/server" in services["temporal"]["image"]
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    assert "temporalio/ui" in services["temporal-ui"]["image"]
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "temporalio/admin-tools" in services["temporal-schema"]["image"]
    assert "temporal-sql-tool" in services["temporal-schema"]["command"][0]
    assert "update-schema" in services["temporal-schema"]["command"][0]
    assert services["redis"]["image"].startswith("redis:")
    assert services["mongodb"]["image"].startswith("mongo:")
    for name in LONG_RUNNING:
        service = services[name]
        assert service.get("restart") == "unless-stopped", name
        test = (service.get("healthcheck") or {}).get("test")
        assert test and not service["healthcheck"].get("disable"), f"{name} has no health check"
    for name in ONE_SHOT:
        assert services[name]["restart"] == "on-failure", name
    # The Temporal server waits for its schema, the app for the migrations and attributes.
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == (
        "service_completed_successfully"
    )
    for name in ("api", "worker"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["temporal-register"]["condition"] == "service_completed_successfully"
        assert "ports" not in services[name], f"{name} replicas publish no port of their own"
        assert "container_name" not in services[name], "a fixed name cannot be scaled"
        assert services[name]["deploy"]["replicas"]
    assert services["postgres"]["volumes"][0].split(":")[0] in compose["volumes"]
    assert services["redis"]["volumes"][0].split(":")[0] in compose["volumes"]


def test_the_temporal_ui_decodes_through_the_apis_codec_endpoint_only_from_its_origin() -> None:
    services = _compose()["services"]
    ui = _service_env(services["temporal-ui"], {})
    api = _service_env(
        services["api"],
        {"POSTGRES_PASSWORD": "x", "MEDIVOY_JWT_SECRET": "x" * 40, "MEDIVOY_PAYLOAD_KEYS": "{}"},
    )
    # The UI's browser calls the API through the proxy's one port, with the codec cookie.
    (published,) = services["proxy"]["ports"]
    port = _interpolate(published, {}).split(":")[-2]
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{port}/api/v1/codec"
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    # The codec answers that origin only: the UI's public URL, as the UI itself is published.
    assert json.loads(api["MEDIVOY_CODEC_CORS_ORIGINS"]) == [ui["TEMPORAL_CORS_ORIGINS"]]
    ui_port = _interpolate(services["temporal-ui"]["ports"][0], {}).split(":")[-2]
    assert ui["TEMPORAL_CORS_ORIGINS"] == f"http://localhost:{ui_port}"


def test_one_port_in_front_of_the_api_replicas() -> None:
    compose = _compose()
    proxy = compose["services"]["proxy"]
    assert len(proxy["ports"]) == 1
    conf = _interpolate(compose["configs"]["nginx-conf"]["content"], {})
    api_port = compose["services"]["api"]["environment"]["MEDIVOY_API_PORT"]
    assert f"http://api:{api_port}" in conf
    # Docker's DNS, re-asked: scaled replicas join without a reload.
    assert "resolver 127.0.0.11" in conf
    assert "proxy_pass $medivoy_api" in conf
    assert "location = /metrics { return 404; }" in conf


def test_every_command_line_is_a_real_cli_verb() -> None:
    commands = _medivoy_commands()
    verbs = {tuple(a for a in argv if not a.startswith("-"))[:2] for _, argv in commands}
    assert ("api",) in {v[:1] for v in verbs} and ("worker",) in {v[:1] for v in verbs}
    assert ("temporal", "register-search-attributes") in verbs
    parser = build_parser()
    for where, argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{where}: `medivoy {' '.join(argv)}` is not a valid command line")
        path = []
        for arg in argv:
            if arg.startswith("-"):
                break
            path.append(arg)
        medivoy = Path(sys.executable).parent / "medivoy"
        run = subprocess.run(
            [str(medivoy), *path, "--help"], capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, f"{where}: medivoy {' '.join(path)} --help: {run.stderr}"
        assert "usage: medivoy " + " ".join(path) in run.stdout


def test_image_is_a_locked_non_root_install_with_a_health_check() -> None:
    instructions = _dockerfile_instructions()
    runs = [rest for word, rest in instructions if word == "RUN"]
    assert any("uv sync --frozen --no-dev" in r for r in runs)
    assert not any("pip install -r" in r or "uv pip install" in r for r in runs)
    users = [rest for word, rest in instructions if word == "USER"]
    assert users and users[-1] not in ("root", "0"), "the last USER must not be root"
    assert any(word == "HEALTHCHECK" for word, _ in instructions)
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert len(froms) >= 2, "a build stage and a slim runtime stage"
    # No secret is baked into the image.
    envs = " ".join(rest for word, rest in instructions if word in ("ENV", "ARG"))
    assert "SECRET" not in envs and "PASSWORD" not in envs
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for must in (".env", ".venv", ".git", ".medivoy"):
        assert must in ignored, f".dockerignore must keep {must} out of the image"
