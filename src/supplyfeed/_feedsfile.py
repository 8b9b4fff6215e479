"""Reading and validating a feeds file (docs/contract.md §3), before any request is sent.

Every error names the file, the line and the key: ``feeds.yaml:14: key 'suppliers[2].feeds[0].kind':
must be one of po_ack, ship_notice, inventory_snapshot``. Secrets come only from
``${ENV}`` references; a literal credential in a header or a URL is refused. The resolved
secret values are kept (``FeedsFile.secrets``) so logs can redact them.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
import yarl

from ._config import (
    KEYS,
    AuthSpec,
    DropSpec,
    FeedConfig,
    FeedSpec,
    FieldMapping,
    IncrementalSpec,
    PaginationSpec,
    SupplierSpec,
    UnitConversion,
    read_key,
    with_keys,
)
from ._exceptions import ConfigError
from ._formats.registry import FORMATS
from ._models import DocKind
from ._redact import redact_url
from ._scale.spec import LOCAL, ExecutorSpec, parse_executor
from ._sink.factory import DEFAULT_SINK_URL

__all__ = ["DEFAULT_SINK", "FeedsFile", "load_feeds_file", "load_mapping_file", "parse_feeds"]

DEFAULT_SINK = DEFAULT_SINK_URL  # the embedded default, one definition (_sink/factory.py)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key"})
# Query parameters that carry credentials: their values must be ${ENV} references.
_SECRET_PARAM = re.compile(
    r"(?:^|[_.-])(?:api[_-]?key|apikey|key|token|secret|passw(?:or)?d|pwd|signature|sig"
    r"|auth|credentials?|session(?:id)?)$",
    re.IGNORECASE,
)
_URL_SCHEMES = frozenset({"http", "https", "sftp", "file"})
# A URL yarl parses as written, with a host (see _url_problem): no user info, query,
# fragment, escape or character a parser could read two ways.
_PLAIN_URL = re.compile(
    r"(?P<scheme>https?)://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::(?P<port>[0-9]{1,5}))?"
    r"(?:/[A-Za-z0-9._~/-]*)?",
    re.IGNORECASE,
)
_TOP_KEYS = ("sink", "defaults", "suppliers", "uom", "executor")
_SUPPLIER_KEYS = ("id", "headers", "overrides", "auth", "feeds", "uom")
_AUTH_KEYS = tuple(f.name for f in dataclasses.fields(AuthSpec))
_AUTH_SECRETS = frozenset({"token", "password", "key_value", "client_secret"})
_AUTH_FILES = ("client_cert", "client_key", "ca_bundle", "ssh_key", "known_hosts")
_AUTH_REQUIRED: dict[str, tuple[str, ...]] = {
    "none": (),
    "bearer": ("token",),
    "basic": ("username", "password"),
    "api_key": ("key_value",),
    "oauth2": ("token_url", "client_id", "client_secret"),
}
_FEED_KEYS = (
    "kind",
    "format",
    "urls",
    "mapping",
    "envelope_policy",
    "pagination",
    "incremental",
    "drop",
    "hedge",
)
_INCREMENTAL_KEYS = ("cursor_field", "param", "initial", "lookback")
_PAGE_KEYS = tuple(f.name for f in dataclasses.fields(PaginationSpec))
_PAGE_INTS = frozenset({"start", "page_size", "max_pages"})
_PAGE_NEEDS: dict[str, tuple[str, ...]] = {
    "next_url": ("path",),
    "cursor": ("path", "param"),
    "link": (),
    "page": ("param",),
    "offset": ("param", "page_size"),
}
# libyaml's parser when PyYAML has it (same nodes and line marks, ~10x faster: a feeds
# file of 2,000 URLs composes in 7 ms instead of 100 ms).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAPPING_KEYS = ("records", "fields", "constants")


@dataclass(frozen=True, slots=True)
class FeedsFile:
    """A loaded feeds file: its sink, defaults, suppliers, unit tables and executor."""

    path: str
    sink: str
    defaults: FeedConfig
    suppliers: tuple[SupplierSpec, ...]
    secrets: frozenset[str] = frozenset()
    units: tuple[UnitConversion, ...] = ()  # ``uom:`` tables, global ones first
    executor: ExecutorSpec = LOCAL  # ``executor:`` local | processes:N | dask://HOST:PORT
    # Not errors, but a reader must see them: a URL listed more than once, say.
    warnings: tuple[str, ...] = ()


def load_feeds_file(path: str | Path, env: Mapping[str, str] | None = None) -> FeedsFile:
    p = Path(path)
    text = _read_text(p, "feeds file")
    feeds = parse_feeds(text, str(p), os.environ if env is None else env)
    return dataclasses.replace(feeds, sink=_beside(feeds.sink, p.parent))


def load_mapping_file(path: str | Path, env: Mapping[str, str] | None = None) -> FieldMapping:
    """A field mapping on its own (``decode --mapping M.yaml``): the keys of a feed's
    ``mapping:`` (records, fields, constants) at the top of the file."""
    p = Path(path)
    root = _compose(_read_text(p, "mapping file"), str(p))
    if root is None:
        raise ConfigError("the mapping file is empty", location=str(p))
    return _Reader(str(p), os.environ if env is None else env).field_mapping(root, "")


def _read_text(p: Path, what: str) -> str:
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror}", location=str(p)) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded (save the file as UTF-8)",
            location=f"{p}:{line}",
        ) from exc
    return text


def _beside(sink: str, folder: Path) -> str:
    """A relative ``sqlite:///x.db`` is relative to the feeds file's folder, not to the
    directory the command ran in: a cron job then writes where an interactive run does."""
    prefix = "sqlite:///"
    rel = sink.removeprefix(prefix)
    if not sink.startswith(prefix) or not rel or rel == ":memory:" or rel.startswith("/"):
        return sink
    return prefix + str(folder.resolve() / rel)


def parse_feeds(text: str, name: str, env: Mapping[str, str]) -> FeedsFile:
    return _Reader(name, env).feeds(_compose(text, name))


def _compose(text: str, name: str) -> yaml.Node | None:
    """The YAML node tree of ``text`` (libyaml's parser when PyYAML has it); an error
    names ``name`` and the line."""
    try:
        return yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"not valid YAML: {exc}", location=f"{name}{line}") from exc


class _Reader:
    def __init__(self, name: str, env: Mapping[str, str]) -> None:
        self.name = name
        self.env = env
        self.secrets: set[str] = set()
        self.scope_secrets: set[str] = set()  # of the supplier being read
        self.scope_headers: set[str] = set()  # its headers that hold an ${ENV} value
        self.units: list[UnitConversion] = []
        self.url_sites: dict[str, list[tuple[int, str]]] = {}  # URL -> (line, key), in order

    # -- errors -------------------------------------------------------------------------
    def fail(self, node: yaml.Node | None, key: str, message: str) -> ConfigError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return ConfigError(message, location=f"{self.name}{line}", key=key)

    # -- node helpers -------------------------------------------------------------------
    def mapping(
        self, node: yaml.Node | None, key: str, allowed: tuple[str, ...] | None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key, "must be a mapping")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            name = str(k.value)
            if allowed is not None and name not in allowed:
                hint = difflib.get_close_matches(name, allowed, n=1)
                tip = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(allowed)})"
                raise self.fail(k, _join(key, name), f"unknown key{tip}")
            if name in out:
                raise self.fail(k, _join(key, name), "duplicate key")
            out[name] = (k, v)
        return out

    def seq(self, node: yaml.Node, key: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, key, "must be a list")
        return list(node.value)

    def string(self, node: yaml.Node, key: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
            raise self.fail(node, key, "must be a string")
        return self.expand(str(node.value), node, key)

    def expand(self, value: str, node: yaml.Node, key: str) -> str:
        def sub(m: re.Match[str]) -> str:
            var, default = m.group(1), m.group(2)
            if self.env.get(var):
                resolved = self.env[var]
            elif default is not None:
                resolved = default
            elif var in self.env:  # an empty secret would be sent as no credential at all
                raise self.fail(node, key, f"environment variable {var} is empty")
            else:
                raise self.fail(node, key, f"environment variable {var} is not set")
            self.secrets.add(resolved)
            self.scope_secrets.add(resolved)
            return resolved

        return _ENV_REF.sub(sub, value)

    # -- the file -----------------------------------------------------------------------
    def feeds(self, root: yaml.Node | None) -> FeedsFile:
        if root is None:
            raise ConfigError("the feeds file is empty", location=self.name)
        top = self.mapping(root, "", _TOP_KEYS)
        sink = self.string(top["sink"][1], "sink") if "sink" in top else DEFAULT_SINK
        defaults = (
            self.config(top["defaults"][1], "defaults", FeedConfig())
            if "defaults" in top
            else FeedConfig()
        )
        if "uom" in top:
            self.units += self.uom_table(top["uom"][1], "uom", "")
        if "suppliers" not in top:
            raise self.fail(root, "suppliers", "missing: list at least one supplier")
        suppliers = tuple(
            self.supplier(n, f"suppliers[{i}]", defaults)
            for i, n in enumerate(self.seq(top["suppliers"][1], "suppliers"))
        )
        self.check_unique_ids(top["suppliers"][1], suppliers)
        # Only the tokens themselves are secrets; the plain parts of a header are not.
        secrets = frozenset(s for s in self.secrets if len(s) >= 4)
        executor = self.executor(top["executor"][1]) if "executor" in top else LOCAL
        warnings = tuple(self.duplicate_urls(suppliers))
        return FeedsFile(
            self.name, sink, defaults, suppliers, secrets, tuple(self.units), executor, warnings
        )

    def duplicate_urls(self, suppliers: tuple[SupplierSpec, ...]) -> list[str]:
        """A URL listed again: under the same supplier and kind it is fetched once (the
        copy is ignored); under another it is fetched, and loaded, once for each."""
        seen: dict[str, tuple[str, str, int]] = {}  # URL -> first supplier, kind, line
        nth: dict[str, int] = {}
        out = []
        for s in suppliers:
            for feed in s.feeds:
                for url in feed.urls:
                    i = nth[url] = nth.get(url, -1) + 1
                    line, key = self.url_sites[url][i]
                    if url not in seen:
                        seen[url] = (s.id, feed.kind.value, line)
                        continue
                    sid, kind, first = seen[url]
                    same = (sid, kind) == (s.id, feed.kind.value)
                    effect = (
                        "fetched once, the copy is ignored"
                        if same
                        else f"also listed for {sid} {kind}: fetched and loaded once for each"
                    )
                    out.append(
                        f"{self.name}:{line}: key '{key}': URL {redact_url(url)} is listed "
                        f"again (first at line {first}); {effect}"
                    )
        return out

    def executor(self, node: yaml.Node) -> ExecutorSpec:
        try:
            return parse_executor(self.string(node, "executor"))
        except ConfigError as exc:
            if exc.location:
                raise
            raise self.fail(node, "executor", exc.message) from exc

    def uom_table(self, node: yaml.Node, key: str, supplier: str) -> list[UnitConversion]:
        """``{CA: {EA: 12}}``: one CA is 12 EA. One base unit per unit, a positive factor."""
        table = []
        for unit, (_, targets) in self.mapping(node, key, None).items():
            inner = self.mapping(targets, _join(key, unit), None)
            if len(inner) != 1:
                raise self.fail(targets, _join(key, unit), "name exactly one base unit")
            [(base, (_, fnode))] = inner.items()
            factor = yaml.safe_load(yaml.serialize(fnode))
            if isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 0:
                message = f"must be a positive number, got {factor!r}"
                raise self.fail(fnode, f"{key}.{unit}.{base}", message)
            table.append(UnitConversion(supplier, unit, base, factor))
        return table

    def check_unique_ids(self, node: yaml.Node, suppliers: tuple[SupplierSpec, ...]) -> None:
        seen: set[str] = set()
        for i, s in enumerate(suppliers):
            if s.id in seen:
                raise self.fail(
                    node.value[i], f"suppliers[{i}].id", f"duplicate supplier id {s.id!r}"
                )
            seen.add(s.id)

    def config(self, node: yaml.Node, key: str, base: FeedConfig) -> FeedConfig:
        """``defaults:`` or ``overrides:``: flat keys, each put in its group (``KEYS``)."""
        values: dict[str, Any] = {}
        for name, (_, vnode) in self.mapping(node, key, tuple(KEYS)).items():
            values[name] = self.typed(vnode, _join(key, name), type(read_key(base, name)))
        try:
            return with_keys(base, values)
        except ConfigError as exc:
            raise self.fail(node, _join(key, exc.key), exc.message) from exc

    def typed(self, node: yaml.Node, key: str, kind: type) -> Any:
        raw = yaml.safe_load(yaml.serialize(node)) if isinstance(node, yaml.ScalarNode) else None
        if kind is bool and isinstance(raw, bool):
            return raw
        if kind is int and isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if kind is float and isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        if kind is str and isinstance(raw, str):
            return self.expand(raw, node, key)
        raise self.fail(node, key, f"must be {kind.__name__}, got {raw!r}")

    def supplier(self, node: yaml.Node, key: str, defaults: FeedConfig) -> SupplierSpec:
        m = self.mapping(node, key, _SUPPLIER_KEYS)
        if "id" not in m:
            raise self.fail(node, _join(key, "id"), "missing supplier id")
        sid = self.string(m["id"][1], _join(key, "id"))
        self.scope_secrets, self.scope_headers = set(), set()
        headers = self.headers(m["headers"][1], _join(key, "headers")) if "headers" in m else {}
        config = (
            self.config(m["overrides"][1], _join(key, "overrides"), defaults)
            if "overrides" in m
            else defaults
        )
        if "feeds" not in m:
            raise self.fail(node, _join(key, "feeds"), "missing: list at least one feed")
        feeds = tuple(
            self.feed(n, f"{key}.feeds[{i}]")
            for i, n in enumerate(self.seq(m["feeds"][1], _join(key, "feeds")))
        )
        auth = self.auth(m["auth"][1], _join(key, "auth")) if "auth" in m else AuthSpec()
        if "uom" in m:
            self.units += self.uom_table(m["uom"][1], _join(key, "uom"), sid)
        return SupplierSpec(
            id=sid,
            feeds=feeds,
            headers=headers,
            config=config,
            auth=auth,
            secret_headers=frozenset(self.scope_headers),
            secrets=frozenset(s for s in self.scope_secrets if len(s) >= 4),
        )

    def auth(self, node: yaml.Node, key: str) -> AuthSpec:
        """A supplier's ``auth:`` mapping; secrets must be ``${ENV}`` references."""
        m = self.mapping(node, key, _AUTH_KEYS)
        values = {name: self._auth_value(name, vnode, key) for name, (_, vnode) in m.items()}
        self._check_auth(node, key, m, values)
        return AuthSpec(**values)

    def _auth_value(self, name: str, vnode: yaml.Node, key: str) -> Any:
        akey = _join(key, name)
        if name == "tls_verify":
            return self.typed(vnode, akey, bool)
        if name == "refresh_margin":
            return self.typed(vnode, akey, float)
        if name in _AUTH_SECRETS:
            return self.secret(vnode, akey)
        return self.string(vnode, akey)

    def _check_auth(
        self,
        node: yaml.Node,
        key: str,
        m: dict[str, tuple[yaml.Node, yaml.Node]],
        values: dict[str, Any],
    ) -> None:
        kind = values.get("type", "none")
        if kind not in _AUTH_REQUIRED:
            raise self.fail(
                m["type"][1], _join(key, "type"), f"must be one of {', '.join(_AUTH_REQUIRED)}"
            )
        for required in _AUTH_REQUIRED[kind]:
            if not values.get(required):
                raise self.fail(node, _join(key, required), f"missing: auth type {kind} needs it")
        if values.get("key_in", "header") not in ("header", "query"):
            raise self.fail(m["key_in"][1], _join(key, "key_in"), "must be header or query")
        if values.get("token_url"):
            problem = _url_problem(values["token_url"], frozenset({"http", "https"}))
            if problem:
                raise self.fail(m["token_url"][1], _join(key, "token_url"), problem)
        for name in _AUTH_FILES:
            if name in values and not Path(values[name]).is_file():
                raise self.fail(m[name][1], _join(key, name), f"no such file: {values[name]}")
        if "client_key" in values and "client_cert" not in values:
            raise self.fail(m["client_key"][1], _join(key, "client_key"), "needs client_cert")

    def secret(self, node: yaml.Node, key: str) -> str:
        if isinstance(node, yaml.ScalarNode) and not _ENV_REF.search(str(node.value)):
            raise self.fail(
                node, key, 'secrets only through environment variables, e.g. "${TOKEN}"'
            )
        value = self.string(node, key)
        if value:
            self.secrets.add(value)
        return value

    def headers(self, node: yaml.Node, key: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, (_, vnode) in self.mapping(node, key, None).items():
            hkey = _join(key, name)
            if not isinstance(vnode, yaml.ScalarNode):
                raise self.fail(vnode, hkey, "must be a string")
            raw = str(vnode.value)
            if name.lower() in _SECRET_HEADERS and not _ENV_REF.search(raw):
                raise self.fail(
                    vnode,
                    hkey,
                    'secrets only through environment variables, e.g. "Bearer ${TOKEN}"',
                )
            if _ENV_REF.search(raw):  # never sent to another origin (redirects.py)
                self.scope_headers.add(name.lower())
            out[name] = self.expand(raw, vnode, hkey)
        return out

    def choice(self, node: yaml.Node, key: str, allowed: list[str]) -> str:
        """A string that must be one of ``allowed``."""
        value = self.string(node, key)
        if value not in allowed:
            if len(allowed) == 2:
                raise self.fail(node, key, f"must be {allowed[0]} or {allowed[1]}")
            raise self.fail(node, key, f"must be one of {', '.join(allowed)}")
        return value

    def feed(self, node: yaml.Node, key: str) -> FeedSpec:
        m = self.mapping(node, key, _FEED_KEYS)
        for required in ("kind", "format", "urls"):
            if required not in m:
                raise self.fail(node, _join(key, required), "missing")
        kind_s = self.choice(m["kind"][1], _join(key, "kind"), [k.value for k in DocKind])
        fmt = self.choice(m["format"][1], _join(key, "format"), sorted(FORMATS))
        urls = tuple(
            self.url(n, f"{key}.urls[{i}]")
            for i, n in enumerate(self.seq(m["urls"][1], _join(key, "urls")))
        )
        if not urls:
            raise self.fail(m["urls"][1], _join(key, "urls"), "must list at least one URL")
        mapping = (
            self.field_mapping(m["mapping"][1], _join(key, "mapping")) if "mapping" in m else None
        )
        if fmt == "xml" and mapping is None:
            raise self.fail(node, _join(key, "mapping"), "format xml needs a mapping")
        policy = (
            self.choice(m["envelope_policy"][1], _join(key, "envelope_policy"), _POLICIES)
            if "envelope_policy" in m
            else "strict"
        )
        pagination = (
            self.pagination(m["pagination"][1], _join(key, "pagination"))
            if "pagination" in m
            else None
        )
        return FeedSpec(
            DocKind(kind_s),
            fmt,
            urls,
            mapping,
            "warn" if policy == "warn" else "strict",
            pagination,
            self.incremental(m["incremental"][1], _join(key, "incremental"), fmt)
            if "incremental" in m
            else None,
            self.drop(m["drop"][1], _join(key, "drop")) if "drop" in m else DropSpec(),
            self.typed(m["hedge"][1], _join(key, "hedge"), bool) if "hedge" in m else True,
        )

    def drop(self, node: yaml.Node, key: str) -> DropSpec:
        """A feed's ``drop:`` mapping: what to do with a file:// or sftp:// file once loaded."""
        m = self.mapping(node, key, ("after", "done_dir"))
        after = self.string(m["after"][1], _join(key, "after")) if "after" in m else "move"
        if after not in ("move", "delete", "keep"):
            raise self.fail(m["after"][1], _join(key, "after"), "must be move, delete or keep")
        done = self.string(m["done_dir"][1], _join(key, "done_dir")) if "done_dir" in m else "done"
        if not done:
            raise self.fail(m["done_dir"][1], _join(key, "done_dir"), "must not be empty")
        return DropSpec(
            after="move" if after == "move" else "delete" if after == "delete" else "keep",
            done_dir=done,
        )

    def incremental(self, node: yaml.Node, key: str, fmt: str) -> IncrementalSpec:
        """A feed's ``incremental:`` mapping (see ``_run/incremental.py``)."""
        m = self.mapping(node, key, _INCREMENTAL_KEYS)
        for required in ("cursor_field", "param"):
            if required not in m:
                raise self.fail(node, _join(key, required), "missing")
        if fmt not in ("json", "csv"):
            raise self.fail(node, key, "incremental pulls read json or csv records")
        lookback = (
            self.typed(m["lookback"][1], _join(key, "lookback"), float) if "lookback" in m else 0.0
        )
        if lookback < 0:
            raise self.fail(m["lookback"][1], _join(key, "lookback"), "must not be negative")
        return IncrementalSpec(
            cursor_field=self.string(m["cursor_field"][1], _join(key, "cursor_field")),
            param=self.string(m["param"][1], _join(key, "param")),
            initial=self.string(m["initial"][1], _join(key, "initial")) if "initial" in m else "",
            lookback=lookback,
        )

    def pagination(self, node: yaml.Node, key: str) -> PaginationSpec:
        """A feed's ``pagination:`` mapping (see ``_fetch/pagination.py``)."""
        m = self.mapping(node, key, _PAGE_KEYS)
        values: dict[str, Any] = {}
        for name, (_, vnode) in m.items():
            pkey = _join(key, name)
            values[name] = (
                self.typed(vnode, pkey, int) if name in _PAGE_INTS else self.string(vnode, pkey)
            )
        style = values.get("style")
        if style not in _PAGE_NEEDS:
            raise self.fail(
                m["style"][1] if "style" in m else node,
                _join(key, "style"),
                f"must be one of {', '.join(_PAGE_NEEDS)}",
            )
        for required in _PAGE_NEEDS[style]:
            if not values.get(required):
                raise self.fail(node, _join(key, required), f"missing: style {style} needs it")
        stop = values.get("stop", "empty")
        if stop not in ("empty", "short", "total"):
            raise self.fail(m["stop"][1], _join(key, "stop"), "must be empty, short or total")
        if stop == "short" and not values.get("page_size"):
            raise self.fail(node, _join(key, "page_size"), "missing: stop short needs it")
        if stop == "total" and not values.get("total_path"):
            raise self.fail(node, _join(key, "total_path"), "missing: stop total needs it")
        for name in ("page_size", "max_pages"):
            if name in values and values[name] < 1:
                raise self.fail(m[name][1], _join(key, name), "must be at least 1")
        return PaginationSpec(**values)

    def url(self, node: yaml.Node, key: str) -> str:
        try:
            self.check_url_secrets(node, key)
        except ValueError as exc:  # urlsplit refuses e.g. "http://[::1/x"
            raise self.fail(node, key, f"not a valid URL: {exc}") from exc
        value = self.string(node, key)
        problem = _url_problem(value, _URL_SCHEMES)
        if problem:
            raise self.fail(node, key, problem)
        self.url_sites.setdefault(value, []).append((node.start_mark.line + 1, key))
        return value

    def check_url_secrets(self, node: yaml.Node, key: str) -> None:
        raw = str(node.value) if isinstance(node, yaml.ScalarNode) else ""
        # no "@": no user info, so no password
        if "@" in raw and ":" in raw.split("@")[0].split("//")[-1]:
            userinfo = urlsplit(raw).netloc.rpartition("@")[0]
            if ":" in userinfo and not _ENV_REF.search(userinfo):
                raise self.fail(
                    node, key, "a password in a URL must come from an environment variable"
                )
        self.check_query_secrets(node, key)

    def check_query_secrets(self, node: yaml.Node, key: str) -> None:
        """A credential in a query string (``?api_key=...``) must be an ${ENV} reference."""
        raw = str(node.value) if isinstance(node, yaml.ScalarNode) else ""
        if "?" not in raw:
            return  # no query string
        query = urlsplit(raw).query
        for name, value in parse_qsl(query, keep_blank_values=True):
            if value and _SECRET_PARAM.search(name) and not _ENV_REF.search(value):
                raise self.fail(
                    node,
                    key,
                    f"query parameter {name!r} holds a literal secret: "
                    f'take it from an environment variable, e.g. "{name}=${{API_KEY}}"',
                )

    def field_mapping(self, node: yaml.Node, key: str) -> FieldMapping:
        m = self.mapping(node, key, _MAPPING_KEYS)
        records = self.string(m["records"][1], _join(key, "records")) if "records" in m else ""
        fields = self.str_map(m["fields"][1], _join(key, "fields")) if "fields" in m else {}
        constants = (
            self.str_map(m["constants"][1], _join(key, "constants")) if "constants" in m else {}
        )
        return FieldMapping(records=records, fields=fields, constants=constants)

    def str_map(self, node: yaml.Node, key: str) -> dict[str, str]:
        return {
            k: self.string(v, _join(key, k)) for k, (_, v) in self.mapping(node, key, None).items()
        }


def _url_problem(url: str, schemes: frozenset[str]) -> str | None:
    """Why ``url`` cannot be fetched, or None; checked at load so a run never meets it.

    Parsed by yarl, as aiohttp will parse it, plus what yarl lets through: ``http:/host``
    and ``http:///x`` parse with no host, and port 0 parses but cannot be connected to.
    A plain ``http(s)://host[:port]/path`` (letters, digits and ``-._~/`` only: most
    of a big fleet's URLs) is checked without yarl: 2,000 such URLs load in 10 ms
    instead of 28 (with the secret checks' parses skipped where there is no "@" or
    "?").
    """
    if _plain_url_ok(url, schemes):
        return None
    return _parsed_url_problem(url, schemes)


def _plain_url_ok(url: str, schemes: frozenset[str]) -> bool:
    """Whether ``url`` is a plain one (``_PLAIN_URL``) that yarl would find no fault in."""
    plain = _PLAIN_URL.fullmatch(url)
    if plain is None or plain["scheme"].lower() not in schemes:
        return False
    port = plain["port"]
    return port is None or 1 <= int(port) <= 65535


def _parsed_url_problem(url: str, schemes: frozenset[str]) -> str | None:
    try:
        parsed = yarl.URL(url)
        port = parsed.explicit_port
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    scheme = parsed.scheme.lower()
    if scheme not in schemes:
        return f"unsupported URL scheme {scheme!r} (use {', '.join(sorted(schemes))})"
    if scheme != "file" and not parsed.host:
        return f"no host in {scheme} URL (write {scheme}://host/path)"
    if port is not None and not 1 <= port <= 65535:
        return f"port {port} is out of range (1-65535)"
    return None


_POLICIES = ["strict", "warn"]


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name
