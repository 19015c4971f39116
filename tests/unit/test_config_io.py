"""Seed YAML parsing, validation messages (every problem at once), secrets and rendering."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from services.admin.seed_format import EnvEntry, SeedDocument, iter_secrets, parse_seed
from services.admin.seed_render import render_seed
from services.errors import FieldError, ValidationFailed
from services.secrets import SecretBox

EXAMPLE = Path(__file__).resolve().parents[2] / "seed.example.yaml"
UUID = "d8f2a1e9-5b7c-4e0a-9f3d-2c1b0a9e8d7f"
MINIMAL = "projects:\n  app:\n    image: nginx\n"


def errors_of(text: str) -> list[FieldError]:
    with pytest.raises(ValidationFailed) as caught:
        parse_seed(textwrap.dedent(text))
    return caught.value.errors


def messages(text: str) -> dict[str, str]:
    return {e.path: e.message for e in errors_of(text)}


def project(body: str) -> str:
    """A document with one project `app` whose keys are `body` (indented for the project)."""
    return "projects:\n  app:\n    image: nginx\n" + textwrap.indent(textwrap.dedent(body), "    ")


# --- the example and good documents ----------------------------------------------------------


def test_example_seed_parses_with_every_section() -> None:
    doc = parse_seed(EXAMPLE.read_text(encoding="utf-8"))
    assert doc.global_ is not None and doc.global_.domain == "example.com"
    assert doc.npm is not None and doc.npm.certificate_id == 1
    assert doc.registries["gitea"].type == "gitea"
    app = doc.projects["web-app-launcher"]
    assert list(app.stages) == ["dev", "rel", "prod"]
    assert app.stages["prod"].promote_from == "rel" and app.stages["prod"].subdomain == "launcher"
    assert app.stages["dev"].env["API_KEY"] is None  # unset in this stage
    assert app.env["API_KEY"] == EnvEntry(value="api-key-here", secret=True)
    assert doc.auth is not None and doc.auth.oidc.client_id == "docker-watcher"


def test_empty_document_is_valid_and_changes_nothing() -> None:
    for text in ("", "# only a comment\n", "{}"):
        doc = parse_seed(text)
        assert doc.global_ is None and doc.npm is None and doc.auth is None
        assert doc.projects == {} and doc.registries == {}


def test_defaults_of_a_minimal_project() -> None:
    app = parse_seed(MINIMAL + "    stages:\n      dev: {}\n").projects["app"]
    assert (app.port, app.healthcheck, app.healthcheck_retries) == (80, None, 3)
    assert (app.stages["dev"].tag_pattern, app.stages["dev"].max_instances) == ("*", 1)


def test_env_scalars_are_stringified() -> None:
    env = (
        parse_seed(project("env: {A: 3000, B: true, C: false, D: 1.5, E: text, F: {value: 7}}"))
        .projects["app"]
        .env
    )
    assert {k: v.value for k, v in env.items()} == {
        "A": "3000",
        "B": "true",
        "C": "false",
        "D": "1.5",
        "E": "text",
        "F": "7",
    }
    assert not any(v.secret for v in env.values())


def test_secret_env_may_leave_its_value_out() -> None:
    env = parse_seed(project("env: {TOKEN: {secret: true}}")).projects["app"].env
    assert env["TOKEN"] == EnvEntry(value=None, secret=True)


def test_paths_are_normalised_and_webhook_uuid_canonical() -> None:
    doc = parse_seed(
        f"global: {{webhook_secret: '{UUID.upper()}'}}\n"
        + project("volumes: [{source: /data//a/, target: /app/./x/}]")
    )
    assert doc.global_ is not None and doc.global_.webhook_secret is not None
    assert doc.global_.webhook_secret.get_secret_value() == UUID
    volume = doc.projects["app"].volumes[0]
    assert (volume.source, volume.target) == ("/data/a", "/app/x")


def test_notification_url_takes_one_or_many() -> None:
    one = parse_seed("global: {notification_url: https://a.example}")
    many = parse_seed("global: {notification_url: [https://a.example, http://b.example]}")
    assert one.global_ is not None and one.global_.notification_url == ["https://a.example"]
    assert many.global_ is not None and len(many.global_.notification_url) == 2


# --- bad documents: paths and messages -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (
            project("stages: {dev: {max_instances: 0}}"),
            "projects.app.stages.dev.max_instances",
            "must be ≥ 1",
        ),
        (project("port: 0"), "projects.app.port", "must be ≥ 1"),
        (project("port: 65536"), "projects.app.port", "must be ≤ 65535"),
        (project("port: '3000'"), "projects.app.port", "must be a whole number"),
        (project("healthcheck: health"), "projects.app.healthcheck", "must be a URL path"),
        (project("healthcheck_timeout: 0"), "projects.app.healthcheck_timeout", "must be > 0"),
        (
            project("stages: {dev: {tag_pattern: ''}}"),
            "projects.app.stages.dev.tag_pattern",
            "must not be empty",
        ),
        (
            project("stages: {dev: {auto_deploy: 'yes'}}"),
            "projects.app.stages.dev.auto_deploy",
            "must be true or false",
        ),
        (project("stages: {Dev: {}}"), "projects.app.stages.Dev", "DNS-safe name"),
        (
            project(f"stages: {{{'s' * 33}: {{}}}}"),
            f"projects.app.stages.{'s' * 33}",
            "at most 32 characters",
        ),
        (
            project("stages: {dev: {subdomain: 'Bad_Name'}}"),
            "projects.app.stages.dev.subdomain",
            "is not a valid subdomain",
        ),
        (  # one label, as the stage form: a wildcard record covers one level only
            project("stages: {dev: {subdomain: 'app.launcher'}}"),
            "projects.app.stages.dev.subdomain",
            "without dots",
        ),
        (
            project("stages: {dev: {max_instances: 101}}"),
            "projects.app.stages.dev.max_instances",
            "must be ≤ 100",
        ),
        (project("env: {1ABC: x}"), "projects.app.env.1ABC", "not a valid environment variable"),
        (project("env: {A-B: x}"), "projects.app.env.A-B", "not a valid environment variable"),
        (project("env: {A: [1, 2]}"), "projects.app.env.A", "must be text, a number"),
        (project("env: {A: null}"), "projects.app.env.A", "null removes a key only in a stage"),
        (
            project("env: {A: {value: x, secret: 'no'}}"),
            "projects.app.env.A.secret",
            "must be true or false",
        ),
        (project("env: {A: {secret: false}}"), "projects.app.env.A", "needs a value"),
        (project("env: {A: {value: x, hidden: true}}"), "projects.app.env.A.hidden", "unknown key"),
        (
            project("volumes: [{source: ../data, target: /x}]"),
            "projects.app.volumes.0.source",
            "must be an absolute host path, or a Docker volume name",
        ),
        (
            project("volumes: [{source: /d, target: /app/../etc}]"),
            "projects.app.volumes.0.target",
            "must not contain '..'",
        ),
        (
            project("volumes: [{source: /d, target: /}]"),
            "projects.app.volumes.0.target",
            "must not be '/'",
        ),
        (
            project("volumes: [{source: /d, target: /x, mode: copy}]"),
            "projects.app.volumes.0.mode",
            "must be one of 'shared' or 'isolated'",
        ),
        (project("volumes: [{source: /d}]"), "projects.app.volumes.0.target", "is required"),
        (project("registry: nowhere"), "projects.app.registry", "unknown registry 'nowhere'"),
        (
            project("stages: {prod: {promote_from: rel}}"),
            "projects.app.stages.prod.promote_from",
            "'rel' is not a stage of this project",
        ),
        (
            project("stages: {prod: {promote_from: prod}}"),
            "projects.app.stages.prod.promote_from",
            "cannot promote from itself",
        ),
        (project("max_instances: 2"), "projects.app.max_instances", "unknown key"),
        ("projects: {app: {port: 80}}", "projects.app.image", "is required"),
        ("projects: {Web_App: {image: nginx}}", "projects.Web_App", "DNS-safe name"),
        (
            f"projects: {{{'a' * 64}: {{image: nginx}}}}",
            f"projects.{'a' * 64}",
            "at most 63 characters",
        ),
        ("projects: {app: {image: 'nginx:1.27'}}", "projects.app.image", "without tag or digest"),
        ("projects: {app: {image: 'Nginx'}}", "projects.app.image", "must be lowercase"),
        ("projects: {app: {image: 'https://ghcr.io/o/a'}}", "projects.app.image", "scheme"),
        ("projects: [app]", "projects", "must be a mapping"),
        ("global: {poll_interval: 9}", "global.poll_interval", "must be ≥ 10"),
        ("global: {webhook_secret: not-a-uuid}", "global.webhook_secret", "must be a UUID"),
        ("global: {domain: 'ex ample.com'}", "global.domain", "must be a domain name"),
        ("global: {server_ip: 300.1.1.1}", "global.server_ip", "IPv4 or IPv6"),
        ("global: {network: '-bad'}", "global.network", "Docker network name"),
        (
            "global: {subdomain_pattern: '{project}'}",
            "global.subdomain_pattern",
            "must contain {stage}",
        ),
        (
            "global: {subdomain_pattern: '{stage}-{project}-{x}'}",
            "global.subdomain_pattern",
            "unknown placeholder '{x}'",
        ),
        (
            "global: {subdomain_pattern: '{stage}_{project}'}",
            "global.subdomain_pattern",
            "only lowercase letters, digits, dashes",
        ),
        ("global: {subdomain_pattern: '{stage'}", "global.subdomain_pattern", "unmatched"),
        (
            "global: {notification_url: [https://ok, 'ftp://x']}",
            "global.notification_url.1",
            "http:// or https://",
        ),
        ("global: {volume_roots: [data]}", "global.volume_roots.0", "absolute path"),
        ("global: {auto_create_allow: ['']}", "global.auto_create_allow.0", "must not be empty"),
        ("npm: {url: 'npm:81'}", "npm.url", "http:// or https://"),
        ("npm: {email: nobody}", "npm.email", "e-mail address"),
        ("npm: {password: 12345}", "npm.password", "must be text (quote it"),
        ("npm: {certificate_id: 0}", "npm.certificate_id", "must be ≥ 1"),
        ("npm: {ssl_forced: 1}", "npm.ssl_forced", "must be true or false"),
        (
            "registries: {r: {url: 'https://r', type: gitlab}}",
            "registries.r.type",
            "must be one of 'gitea', 'github', 'dockerhub' or 'generic'",
        ),
        ("registries: {r: {type: gitea}}", "registries.r.url", "is required"),
        ("registries: {r: {url: ''}}", "registries.r.url", "must not be empty"),
        (
            "registries: {r: {url: 'https://r', token: ''}}",
            "registries.r.token",
            "must not be empty",
        ),
        ("registries: {'bad name': {url: 'https://r'}}", "registries.bad name", "letters, digits"),
        ("auth: {mode: ldap}", "auth.mode", "must be one of 'local', 'oidc' or 'both'"),
        ("auth: {mode: oidc}", "auth.oidc.discovery_url", "is required when auth.mode is oidc"),
        (
            "auth: {oidc: {discovery_url: 'sso.example.com'}}",
            "auth.oidc.discovery_url",
            "http:// or https://",
        ),
        (
            "auth: {oidc: {role_map: {ops: root}}}",
            "auth.oidc.role_map.ops",
            "must be one of 'admin', 'deployer' or 'viewer'",
        ),
        ("auth: {oidc: {default_role: boss}}", "auth.oidc.default_role", "must be one of"),
        (
            "auth: {oidc: {allowed_email_domains: [nodot]}}",
            "auth.oidc.allowed_email_domains.0",
            "email domain",
        ),
        ("auth: {oidc: {groups_claim: 'a b'}}", "auth.oidc.groups_claim", "spaces"),
        ("globl: {}", "globl", "unknown key (did you mean 'global'?)"),
        ("users: []", "users", "unknown key"),
    ],
)
def test_bad_field_is_named_with_a_friendly_message(text: str, path: str, message: str) -> None:
    found = messages(text)
    assert path in found, found
    assert message in found[path]


def test_every_problem_is_reported_at_once() -> None:
    found = messages(
        """
        global: {poll_interval: 1, webhook_secret: nope}
        npm: {url: 'ftp://npm'}
        registries: {gitea: {url: https://git.example.com, type: gitlab}}
        projects:
          web-app-launcher:
            registry: gittea
            image: git.example.com/alexei/app:v1
            port: 70000
            env: {1BAD: x}
            volumes: [{source: /d, target: /a}, {source: /e, target: /a/}]
            stages:
              dev: {max_instances: 0, tag_pattern: ''}
              prod: {promote_from: rel, subdomain: launcher}
          other:
            image: nginx
            stages: {prod: {subdomain: launcher}}
        extra: 1
        """
    )
    base = "projects.web-app-launcher"
    assert set(found) == {
        "global.poll_interval",
        "global.webhook_secret",
        "npm.url",
        "registries.gitea.type",
        f"{base}.registry",
        f"{base}.image",
        f"{base}.port",
        f"{base}.env.1BAD",
        f"{base}.volumes.1.target",
        f"{base}.stages.dev.max_instances",
        f"{base}.stages.dev.tag_pattern",
        f"{base}.stages.prod.promote_from",
        "projects.other.stages.prod.subdomain",
        "extra",
    }
    assert found[f"{base}.stages.dev.max_instances"] == "must be ≥ 1"
    assert found[f"{base}.volumes.1.target"] == "is mounted twice"
    assert (
        "already used by projects.web-app-launcher.stages.prod"
        in found["projects.other.stages.prod.subdomain"]
    )


def test_error_text_uses_dotted_paths() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_seed(project("stages: {dev: {max_instances: 0}}"))
    assert str(caught.value) == "projects.app.stages.dev.max_instances: must be ≥ 1"


def test_volume_sources_must_lie_under_the_roots_given() -> None:
    found = messages(
        "global: {volume_roots: [/data, /srv/apps/]}\n"
        + project(
            """
            volumes: [{source: /data/ok, target: /a}, {source: /etc, target: /b},
                      {source: /srv/apps2, target: /c}, {source: /srv/apps, target: /d}]
            stages: {dev: {volumes: [{source: /var/run/docker.sock, target: /s}]}}
            """
        )
    )
    assert set(found) == {
        "projects.app.volumes.1.source",
        "projects.app.volumes.2.source",
        "projects.app.stages.dev.volumes.0.source",
    }
    assert "volume_roots (/data, /srv/apps)" in found["projects.app.volumes.1.source"]


def test_duplicate_keys_are_errors_at_their_path() -> None:
    found = messages(
        """
        projects:
          app: {image: nginx, port: 80, port: 81}
        global: {}
        global: {}
        """
    )
    assert found == {"projects.app.port": "duplicate key", "global": "duplicate key"}


def test_merge_keys_may_be_overridden() -> None:
    doc = parse_seed(
        project(
            """
            stages:
              rel: &rel {tag_pattern: "v*", max_instances: 2}
              prod: {<<: *rel, max_instances: 1}
            """
        )
    )
    prod = doc.projects["app"].stages["prod"]
    assert (prod.tag_pattern, prod.max_instances) == ("v*", 1)


def test_yaml_syntax_error_names_the_line() -> None:
    (error,) = errors_of("projects:\n  app: [1\n")
    assert error.path == "" and error.message.startswith("not valid YAML")
    assert "line 3" in error.message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    (error,) = errors_of(text)
    assert "must be a mapping" in error.message


def test_unsafe_yaml_tags_are_refused() -> None:
    (error,) = errors_of("a: !!python/object/apply:os.system ['true']\n")
    assert "not valid YAML" in error.message


def test_alias_bombs_are_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (error,) = errors_of("\n".join(lines) + "\n")
    assert "too large" in error.message


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000,
        "a: " + "[" * 5000 + "]" * 5000,
        "a:\n" + "".join(" " * i + "- \n" for i in range(1200)),
    ],
)
def test_deep_nesting_is_refused_before_it_can_exhaust_the_stack(text: str) -> None:
    (error,) = errors_of(text)
    assert error.path == "" and "nested deeper than" in error.message
    assert "line " in error.message


def test_nesting_up_to_the_limit_is_still_parsed() -> None:
    deep = "a: " + "[" * 30 + "]" * 30 + "\n"
    (error,) = errors_of(deep)  # parsed; then refused as an unknown key, not for its depth
    assert "nested" not in error.message


def test_errors_never_echo_secret_input() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_seed("npm: {password: 987654321}\nregistries: {r: {url: x, token: 123456789}}")
    assert "987654321" not in str(caught.value) and "123456789" not in str(caught.value)


def test_reprs_hide_secrets() -> None:
    doc = parse_seed(
        "npm: {password: pw-plain-1}\n"
        + project("env: {K: {value: env-plain-2, secret: true}, P: visible}")
    )
    text = repr(doc)
    assert "pw-plain-1" not in text and "env-plain-2" not in text and "visible" in text


# --- secrets ---------------------------------------------------------------------------------


def test_iter_secrets_lists_every_secret_with_its_kind() -> None:
    doc = parse_seed(EXAMPLE.read_text(encoding="utf-8"))
    slots = {(s.path, s.kind) for s in iter_secrets(doc)}
    assert slots == {
        ("npm.password", "npm"),
        ("registries.gitea.token", "registry"),
        ("projects.web-app-launcher.env.API_KEY", "env"),
        ("auth.oidc.client_secret", "oidc"),
        ("global.notification_url.0", "notify"),
    }


def test_ciphertext_is_accepted_back_as_a_secret() -> None:
    box = SecretBox(bytes(range(32)))
    sealed = box.encrypt(UUID, "webhook.secret")
    doc = parse_seed(
        f"global: {{webhook_secret: '{sealed}'}}\n"
        + project(f"env: {{K: {{value: '{box.encrypt('v', 'env.value')}', secret: true}}}}")
    )
    assert doc.global_ is not None and doc.global_.webhook_secret is not None
    assert doc.global_.webhook_secret.get_secret_value() == sealed
    assert render_seed(doc, include_secrets="encrypted").count("v1:") == 2


# --- rendering -------------------------------------------------------------------------------


def test_render_omits_secrets_and_reparses_to_the_same_text() -> None:
    doc = parse_seed(EXAMPLE.read_text(encoding="utf-8"))
    text = render_seed(doc, include_secrets="omit")
    for plaintext in ("npm-password-here", "gitea-token-here", "api-key-here", "oidc-client"):
        assert plaintext not in text
    again = parse_seed(text)
    assert render_seed(again, include_secrets="omit") == text
    assert again.projects["web-app-launcher"].env["API_KEY"] == EnvEntry(secret=True)


def test_render_refuses_to_write_plaintext_secrets() -> None:
    doc = parse_seed("npm: {password: hunter2}")
    with pytest.raises(ValueError, match=r"npm\.password holds a plaintext secret"):
        render_seed(doc, include_secrets="encrypted")


def test_render_rejects_an_unknown_secret_mode() -> None:
    with pytest.raises(ValueError, match="include_secrets"):
        render_seed(SeedDocument(), include_secrets="plain")  # type: ignore[arg-type]


def test_render_key_order_is_stable_and_follows_the_format() -> None:
    doc = parse_seed(
        "projects: {b: {image: nginx, stages: {zeta: {}, alpha: {}}}, a: {image: redis}}\n"
        "npm: {url: 'http://npm:81'}\nglobal: {domain: example.com}"
    )
    text = render_seed(doc, include_secrets="omit")
    top = [line for line in text.splitlines() if line and line[0].isalpha()]
    assert top == ["global:", "npm:", "projects:"]
    assert text.index("  b:") < text.index("  a:")  # the document's order is kept
    assert text.index("zeta:") < text.index("alpha:")


def test_render_writes_only_given_settings_and_keeps_explicit_nulls() -> None:
    doc = parse_seed("npm: {certificate_id: null}\nglobal: {poll_interval: 60}")
    assert render_seed(doc, include_secrets="omit").splitlines()[1:] == [
        "global:",
        "  poll_interval: 60",
        "npm:",
        "  certificate_id: null",
    ]


def test_render_keeps_stage_unsets_and_quotes_numeric_strings() -> None:
    doc = parse_seed(project("env: {PORT: 3000, FLAG: true}\nstages: {dev: {env: {PORT: null}}}"))
    text = render_seed(doc, include_secrets="omit")
    assert "PORT: '3000'" in text and "FLAG: 'true'" in text and "PORT: null" in text
    assert parse_seed(text) == doc


def test_subdomain_pattern_may_use_the_tag_like_the_settings_page() -> None:
    assert parse_seed("global: {subdomain_pattern: '{stage}-{project}-{tag}'}")
