"""The server only ever answers calls (issue 9): nothing a phone or a carrier can reach in the
rendered configuration places a call, so there is no toll-fraud surface.

From each pjsip.conf endpoint's contexts the checker follows ``include =>``, jumps (Goto[If][Time],
Gosub[If], Macro, ChannelRedirect, hangup handlers, ConfBridge ``dialplan_exec``) and apps run by
apps (Exec, TryExec, ExecIf[Time]) through every extension (``h`` too), and fails on what places
a call or runs a program (:data:`OUTBOUND`), on ``switch =>``, and on a jump or an application
known only at run time. The parser reads pbx_config's syntax (``exten``/``same =>``, labels,
``App(args)``/``App,args``, templates) and refuses what it cannot follow (``#include``). Planted
mistakes show it catches each way in, so the test cannot pass vacuously.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest

from deploy.credentials import AmiCredentials
from deploy.install import AsteriskInstall
from deploy.render import render_config
from deploy.settings import PbxConfig
from telephony.weblinks import endpoint_object

# Lower-case application name -> why it may not run where a caller can reach it.
OUTBOUND: dict[str, str] = {
    **dict.fromkeys("dial retrydial originate page queue followme".split(), "places a call"),
    **dict.fromkeys(["chanspy", "extenspy"], "joins other people's calls"),
    "disa": "gives the caller a dial tone to call out",
    "voicemailmain": "can call out (callback, outdial)",
    **dict.fromkeys(["transfer", "blindtransfer"], "sends the caller to another number (REFER)"),
    **dict.fromkeys(["system", "trysystem", "externalivr"], "runs a program"),
    **dict.fromkeys(["agi", "eagi", "deadagi"], "hands the call to a program (AGI)"),
    "stasis": "hands the call to an ARI application",
}
# Modules that add those applications, or dialplan from somewhere else than extensions.conf.
OUTBOUND_MODULES = {f"{m}.so" for m in """app_dial app_originate app_page app_queue app_followme
    app_chanspy app_disa app_system app_externalivr app_voicemail res_agi res_stasis res_ari
    func_shell pbx_ael pbx_lua pbx_realtime pbx_dundi pbx_loopback pbx_spool res_pjsip_messaging
    """.split()}  # fmt: skip


class DialplanError(ValueError):
    """extensions.conf holds something this checker cannot follow."""


@dataclass(frozen=True)
class Step:
    context: str
    exten: str
    priority: str
    app: str
    args: str
    line: int

    def __str__(self) -> str:
        return f"[{self.context}] {self.exten},{self.priority} (line {self.line})"


@dataclass
class Context:
    name: str
    parents: list[str] = field(default_factory=list)  # templates it inherits from
    template: bool = False
    steps: list[Step] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    switches: list[str] = field(default_factory=list)


def _uncomment(text: str) -> list[tuple[int, str]]:
    text = re.sub(r";--.*?--;", lambda m: "\n" * m.group().count("\n"), text, flags=re.S)
    lines = enumerate(text.splitlines(), 1)
    stripped = [(n, re.split(r"(?<!\\);", raw, maxsplit=1)[0].strip()) for n, raw in lines]
    return [(n, line) for n, line in stripped if line]


def split_top(text: str, sep: str, limit: int = -1) -> list[str]:
    """``text`` split at each ``sep`` outside (), [] and {} (``${...}``, ``$[...]``)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch == sep and depth == 0 and limit != 0:
            parts.append(text[start:i])
            start, limit = i + 1, limit - 1
    return [*parts, text[start:]]


def parse_app(text: str) -> tuple[str, str]:
    """``App(args)`` or the old ``App,args``: (name, args), as pbx_config reads them."""
    text = text.strip()
    paren, comma = text.find("("), text.find(",")
    if paren >= 0 and (comma < 0 or paren < comma):
        args = text[paren + 1 :]
        return text[:paren].strip(), args[:-1] if args.endswith(")") else args
    if comma >= 0:
        return text[:comma].strip(), text[comma + 1 :]
    return text, ""


_HEADER = re.compile(r"^\[(?P<name>[^\]]+)\]\s*(?:\((?P<opts>[^)]*)\))?$")
_PRIORITY = re.compile(r"^(?:\d+|n(?:\+\d+)?|s|hint)(?:\((?P<label>[^)]*)\))?$")


def parse_dialplan(text: str) -> dict[str, Context]:
    """The contexts of an extensions.conf, with templates merged into their children."""
    contexts: dict[str, Context] = {}
    current: Context | None = None
    in_settings = False  # [general] or [globals]
    exten: str | None = None
    for number, line in _uncomment(text):
        if line.startswith("#"):
            raise DialplanError(f"line {number}: {line.split()[0]} cannot be followed here")
        if header := _HEADER.match(line):
            name = header["name"].strip()
            opts = [o.strip() for o in (header["opts"] or "").split(",") if o.strip()]
            current, exten, in_settings = None, None, name in {"general", "globals"}
            if in_settings:
                continue
            # A context named again, with or without (+), gets more lines (as pbx_config).
            current = contexts.setdefault(name, Context(name))
            current.parents += [o for o in opts if o not in {"!", "+"}]
            current.template = current.template or "!" in opts
            continue
        if in_settings:
            continue
        assignment = re.match(r"^([\w-]+)\s*=>?\s*(.*)$", line)
        if current is None or assignment is None:
            raise DialplanError(f"line {number}: {line!r} is not a dialplan line in a context")
        key, value = assignment[1].lower(), assignment[2]
        if key in {"include", "switch", "eswitch", "lswitch", "ignorepat"}:
            if key != "ignorepat":  # include => context[,time]: its name only
                target = current.includes if key == "include" else current.switches
                target.append(re.split(r"[,|]", value)[0].strip() if key == "include" else value)
            continue
        if key == "exten":
            head = split_top(value, ",", 1)
            exten, rest = head[0].split("/")[0].strip(), head[-1]  # /callerid: same extension
        elif key == "same" and exten is not None:
            rest = value
        else:
            raise DialplanError(f"line {number}: {line!r} is not a dialplan line")
        parts = split_top(rest, ",", 1)
        if len(parts) != 2 or not _PRIORITY.match(parts[0].strip()):
            raise DialplanError(f"line {number}: no priority and application in {line!r}")
        if parts[0].strip().startswith("hint"):
            continue  # a device to watch, not an application
        app, args = parse_app(parts[1])
        current.steps.append(Step(current.name, exten, parts[0].strip(), app, args, number))
    for ctx in contexts.values():
        for parent in reversed(ctx.parents):
            tpl = contexts.get(parent)
            if tpl is None:
                raise DialplanError(f"[{ctx.name}] inherits from [{parent}], which is not there")
            ctx.steps[:0] = [Step(ctx.name, s.exten, s.priority, s.app, s.args, s.line)
                             for s in tpl.steps]  # fmt: skip
            ctx.includes[:0], ctx.switches[:0] = tpl.includes, tpl.switches
    return {name: ctx for name, ctx in contexts.items() if not ctx.template}


# --- following calls through the dialplan --------------------------------------------------


@dataclass
class Report:
    reachable: set[str] = field(default_factory=set)
    examined: list[Step] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _jump(label: str, here: str) -> tuple[str | None, str | None]:
    """The context a Goto/Gosub label (``[[context,]exten,]priority[(args)]``) goes to, or a
    problem when it is known only at run time."""
    label = label.strip()
    if not label:
        return None, None  # an empty branch of GotoIf: no jump
    parts = split_top(label, ",")
    parts[-1] = re.sub(r"\(.*\)$", "", parts[-1])  # Gosub arguments are data, not the label
    if len(parts) > 3 or any("$" in p or not p.strip() for p in parts):
        return None, f"jumps to {label!r}, which is known only at run time"
    return (parts[0].strip() if len(parts) == 3 else here), None


def _branches(args: str) -> list[str]:
    """The branches of ``condition?a[:b]`` (none without a ``?``)."""
    parts = split_top(args, "?", 1)
    return split_top(parts[1], ":", 1) if len(parts) == 2 else []


# Applications that run another (app) or jump (label): where in their arguments it is.
# (Macro is gone since Asterisk 21, but a macro- context it would run is followed anyway.)
_INNER = {
    **{name: ("app", lambda args: [args]) for name in ("exec", "tryexec")},
    **{name: ("app", _branches) for name in ("execif", "execiftime")},
    **{name: ("label", lambda args: [args]) for name in ("goto", "gosub")},
    **{name: ("label", _branches) for name in ("gotoif", "gosubif", "gotoiftime")},
    "channelredirect": ("label", lambda args: split_top(args, ",", 1)[1:]),
    "macro": ("label", lambda args: [f"macro-{split_top(args, ',')[0].strip()},s,1"]),
}


def examine(app: str, args: str, here: str) -> tuple[list[str], list[str]]:
    """(problems, contexts jumped to) of one application run in context ``here``."""
    name = app.strip().lower()
    if not re.fullmatch(r"[a-z0-9_]+", name):
        return [f"runs {app!r}, an application known only at run time"], []
    problems = [f"{app}({args}) {OUTBOUND[name]}"] if name in OUTBOUND else []
    if name == "mixmonitor" and len(split_top(args, ",")) > 2:
        problems.append(f"{app}({args}) runs a command when the recording ends")
    if re.search(r"\$\{\s*SHELL\s*\(", args, flags=re.I):
        problems.append(f"{app}({args}) runs a program (SHELL)")
    # Run from inside other applications' arguments: hangup handlers, ConfBridge menus.
    labels = re.findall(r"hangup_handler_(?:push|wipe)\)\s*=\s*(.+)$", args, flags=re.I)
    labels += re.findall(r"dialplan_exec\(((?:[^()]|\([^()]*\))*)\)", args, flags=re.I)
    targets: list[str] = []
    kind, pieces = _INNER.get(name, ("", _branches))
    for piece in filter(str.strip, pieces(args) if kind else []):
        if kind == "app":
            more, jumps = examine(*parse_app(piece), here)
            problems, targets = problems + more, targets + jumps
        else:
            labels.append(piece)
    for label in labels:
        target, problem = _jump(label, here)
        problems += [f"{app}({args}) {problem}"] if problem else []
        targets += [target] if target else []
    return problems, targets


def follow(contexts: dict[str, Context], entries: Iterable[str]) -> Report:
    """Every context reachable from ``entries``, and the problems in them."""
    report = Report()
    queue = list(entries)
    while queue:
        name = queue.pop()
        if name in report.reachable:
            continue
        report.reachable.add(name)
        ctx = contexts.get(name)
        if ctx is None:
            report.problems.append(f"[{name}] is reached but not defined: cannot check it")
            continue
        report.problems += [f"[{name}] switch => {s} hands calls elsewhere" for s in ctx.switches]
        queue += ctx.includes
        for step in ctx.steps:
            report.examined.append(step)
            problems, targets = examine(step.app, step.args, name)
            report.problems += [f"{step}: {p}" for p in problems]
            queue += targets
    return report


# --- the other files: pjsip.conf, confbridge.conf, manager.conf, modules.conf ----------------


@dataclass
class Section:
    name: str
    options: list[tuple[str, str]]

    def get(self, key: str) -> list[str]:
        return [v for k, v in self.options if k == key]


def parse_ini(text: str) -> list[Section]:
    """Asterisk's config syntax: ``[name]``, ``[name](!)`` or ``[name](template,...)``
    sections of ``key = value`` or ``key => value``; inheritance merged, templates dropped."""
    sections: list[Section] = []
    named: dict[str, Section] = {}  # any section can be inherited from, templates or not
    current: Section | None = None
    for number, line in _uncomment(text):
        if header := _HEADER.match(line):
            opts = [o.strip() for o in (header["opts"] or "").split(",") if o.strip()]
            inherited = [kv for o in opts if o not in {"!", "+"} for kv in named[o].options]
            current = named[header["name"].strip()] = Section(header["name"].strip(), inherited)
            sections += [] if "!" in opts else [current]
            continue
        key, sep, value = line.partition("=")
        if not sep or current is None:
            raise ValueError(f"line {number}: {line!r} is not a setting in a section")
        current.options.append((key.strip().lower(), value.lstrip(">").strip()))
    return sections


def entry_contexts(pjsip_conf: str) -> dict[str, list[str]]:
    """Endpoint name -> the contexts its calls, subscriptions and messages land in."""
    found: dict[str, list[str]] = {}
    for section in parse_ini(pjsip_conf):
        if section.get("type")[-1:] == ["endpoint"]:
            contexts = section.get("context")[-1:] or ["default"]  # PJSIP's default
            contexts += section.get("subscribe_context")[-1:] + section.get("message_context")[-1:]
            found.setdefault(section.name, []).extend(contexts)
    return found


def check(files: dict[str, str]) -> Report:
    """Everything the rendered configuration lets a caller reach, and what is wrong there."""
    contexts = parse_dialplan(files["extensions.conf"])
    # A ConfBridge menu's keys run dialplan_exec(context,exten,priority) outside the dialplan.
    menus = [s for s in parse_ini(files["confbridge.conf"]) if s.get("type")[-1:] == ["menu"]]
    steps = [Step("menu", f"{m.name} {k}", "-", "NoOp", v, 0) for m in menus for k, v in m.options]
    contexts["menu"] = Context("menu", steps=steps)
    entries = [c for cs in entry_contexts(files["pjsip.conf"]).values() for c in cs]
    # Browser links' endpoints live in AstDB, not pjsip.conf (telephony/weblinks.py): their
    # context, as the bot writes it, is an entry too.
    browser = endpoint_object("web-0123456789abcdef", name="A", user="U1")
    entries += [browser[k] for k in ("context", "subscribe_context", "message_context")
                if k in browser]  # fmt: skip
    return follow(contexts, [*entries, "menu"])


# --- the tests ------------------------------------------------------------------------------

FILES = ("extensions.conf", "pjsip.conf", "confbridge.conf", "manager.conf", "modules.conf")
AMI = AmiCredentials("conference-bot", "not-a-real-secret")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The configuration as the product renders it, with phones, an IP trunk (an address and
    a network) and a registration trunk."""
    base = tmp_path_factory.mktemp("render")
    cfg = PbxConfig(
        run_dir=base / "run", phones=[("alice", "alice-password-1"), ("bob", "bob-password-1")],
        trunk_ips=["127.0.0.2", "127.0.0.16/28"], trunk_registrar="sip:127.0.0.4:5060",
        trunk_user="conference-trunk", trunk_password="provider-pw",
        trunk_contact_user="15551234567",
    )  # fmt: skip
    install = AsteriskInstall(kind="system", argv=("/bin/false",), module_dir=base / "modules",
                              sounds_dirs={}, version="Asterisk 22.10.0")  # fmt: skip
    render_config(cfg, install, AMI)
    return {name: (cfg.etc_dir / name).read_text() for name in FILES}


def test_no_context_a_caller_reaches_places_a_call(rendered: dict[str, str]) -> None:
    entries = entry_contexts(rendered["pjsip.conf"])
    assert entries == {"alice": ["from-phones"], "bob": ["from-phones"],
                       "trunk": ["from-trunk"], "provider": ["from-provider"]}  # fmt: skip
    assert "anonymous" not in entries  # unidentified callers are refused, not served
    report = check(rendered)
    assert report.problems == []
    assert {"from-phones", "from-trunk", "from-provider", "from-webrtc",
            "conference-ivr"} <= report.reachable  # fmt: skip
    # Every extension was read, the h extension and the registration's contact user too.
    seen = {(s.context, s.exten, s.app.lower()) for s in report.examined}
    assert {("conference-ivr", "s", "confbridge"), ("conference-ivr", "h", "userevent"),
            ("from-provider", "15551234567", "gotoif"),
            ("from-webrtc", "_[0-9A-Za-z]!", "goto")} <= seen  # fmt: skip


Edit = tuple[str, str, str]  # (file, text to replace, or "" to append; new text)
X, WAIT, DONE = "extensions.conf", " same => n,Wait(0.2)\n", " same => n(done),NoOp()"
OUT: Edit = (X, "", "[outbound]\nexten => _X.,1,Dial(PJSIP/${EXTEN}@trunk)")


def planted(files: dict[str, str], edits: Iterable[Edit]) -> dict[str, str]:
    files = dict(files)
    for name, old, new in edits:
        assert old in files[name], f"{name} no longer holds {old!r}: update the plant"
        files[name] = files[name].replace(old, new, 1) if old else f"{files[name]}\n{new}\n"
    return files


SUB = (X, "", "[sub-out]\nexten => s,1,Queue(support)\n same => n,Return()")
# name: (edits, where the problem is, what it names)
PLANTS: dict[str, tuple[list[Edit], str, str]] = {
    "Dial in the h extension": (
        [(X, DONE, f"{DONE}\n same => n,Dial(PJSIP/1@trunk)")], "[conference-ivr] h,n", "Dial"),
    "include => a context that dials": (
        [(X, "[from-phones]\n", "[from-phones]\ninclude => outbound\n"), OUT],
        "[outbound]", "Dial"),
    "Originate in ExecIf's false branch": (
        [(X, WAIT, " same => n,ExecIf($[1]?Wait(1):Originate(PJSIP/x,exten,o,s,1))\n")],
        "[conference-ivr] s,n", "Originate"),
    "System in Exec(TryExec(...))": (
        [(X, WAIT, " same => n,Exec(TryExec(System(curl x)))\n")], "s,n", "System"),
    "GotoIf's false branch to another context": (
        [(X, "?reject)", "?reject:outbound,s,1)"), OUT], "[outbound]", "Dial"),
    "Gosub with arguments": (
        [(X, WAIT, " same => n,GoSub(sub-out,s,1(${EXTEN},2))\n"), SUB], "[sub-out] s,1", "Queue"),
    "Macro": (
        [(X, WAIT, " same => n,Macro(out,1)\n"), (X, "", "[macro-out]\nexten => s,1,Page(x)")],
        "[macro-out] s,1", "Page"),
    "a hangup handler": (
        [(X, WAIT, " same => n,Set(CHANNEL(hangup_handler_push)=sub-out,s,1)\n"), SUB],
        "[sub-out] s,1", "Queue"),
    "App,args syntax, lower case, from a template": (
        [(X, "[from-phones]\n", "[from-phones]\ninclude => out\n"),
         (X, "", "[dialer](!)\nexten => 1,1,dial,PJSIP/x\n[out](dialer)\nexten => 2,1,NoOp()")],
        "[out] 1,1", "dial"),
    "a jump known only at run time": (
        [(X, WAIT, " same => n,Goto(${DEST})\n")], "known only at run time", "Goto"),
    "an application known only at run time": (
        [(X, WAIT, " same => n,ExecIf($[1]?${APP}(x))\n")], "known only at run time", "${APP}"),
    "a switch": (
        [(X, "[from-trunk]\n", "[from-trunk]\nswitch => IAX2/u:p@h/c\n")], "[from-trunk]", "IAX2"),
    "an endpoint into a context that dials": (
        [("pjsip.conf", "", "[evil]\ntype = endpoint\ncontext = outbound"), OUT],
        "[outbound]", "Dial"),
    "an endpoint with no context (default)": (
        [("pjsip.conf", "", "[e](!)\ntype = endpoint\n[evil](e)\nauth = x"),
         (X, "", "[default]\nexten => _X.,1,Dial(PJSIP/${EXTEN}@trunk)")], "[default]", "Dial"),
    "Dial in the browsers' context": (
        [(X, " same => n(refuse),Hangup(21)", " same => n(refuse),Dial(PJSIP/1@trunk)")],
        "[from-webrtc]", "Dial"),
    "a ConfBridge menu": (
        [("confbridge.conf", "", "[m]\ntype = menu\n*9 = dialplan_exec(outbound,s,1)"), OUT],
        "[outbound]", "Dial"),
    "a ConfBridge menu set from the dialplan": (
        [(X, WAIT, " same => n,Set(CONFBRIDGE(menu,*9)=dialplan_exec(outbound,s,1))\n"), OUT],
        "[outbound]", "Dial"),
}  # fmt: skip


@pytest.mark.parametrize("plant", PLANTS, ids=list(PLANTS))
def test_the_checker_catches_a_planted_call(rendered: dict[str, str], plant: str) -> None:
    edits, where, what = PLANTS[plant]
    problems = check(planted(rendered, edits)).problems
    assert any(where in p and what in p for p in problems), problems


def test_the_checker_follows_reachability_not_words(rendered: dict[str, str]) -> None:
    """A Dial no caller can reach is not a finding (the check is not a grep), and what it
    cannot follow is an error, not a pass."""
    files = planted(rendered, [(X, "", "[unreachable]\nexten => 1,1,Dial(PJSIP/x@trunk)")])
    assert parse_dialplan(files[X])["unreachable"].steps[0].app == "Dial"
    assert check(files).problems == []
    for bad in ("#include extensions_custom.conf", "#exec /usr/local/bin/dialplan",
                "[from-phones](+)\nexten => 1,Dial(x)", "[x]\nsame => n,NoOp()"):  # fmt: skip
        with pytest.raises(DialplanError):
            check(planted(rendered, [(X, "", bad)]))


def test_the_ami_account_has_only_the_classes_it_uses(rendered: dict[str, str]) -> None:
    """Only the classes the bot uses (manager.conf lists which action and event needs which;
    tests/telephony/test_ami_privileges.py checks them live): ``originate`` for the recording
    announcer alone (issue 11; the account can already rewrite and reload this
    configuration, which decides where calls go), never ``command`` (the console: ``dialplan
    add``...), ``config``, ``dialplan`` or ``all``. AMI listens on loopback alone."""
    general, *users = parse_ini(rendered["manager.conf"])
    assert general.name == "general" and [u.name for u in users] == [AMI.username]
    assert all(ipaddress.ip_address(a).is_loopback for a in general.get("bindaddr"))
    for user in users:
        write = {c.strip().lower() for w in user.get("write") for c in w.split(",")}
        read = {c.strip().lower() for r in user.get("read") for c in r.split(",")}
        assert write == {"system", "call", "reporting", "originate"}, write
        assert read == {"system", "call", "user", "security"}, read
        assert not (read | write) & {"command", "all", "config", "dialplan"}
        assert user.get("deny") == ["0.0.0.0/0.0.0.0"]
        assert all(ipaddress.ip_network(p).is_loopback for p in user.get("permit"))


def test_no_module_that_calls_out_is_loaded(rendered: dict[str, str]) -> None:
    """Defence in depth: even a Dial that slipped through would find no application."""
    [modules] = parse_ini(rendered["modules.conf"])
    assert modules.get("autoload") == ["no"]
    loaded = set(modules.get("load"))
    assert "pbx_config.so" in loaded and "app_confbridge.so" in loaded
    assert not loaded & OUTBOUND_MODULES
