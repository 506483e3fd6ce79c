"""The pure modules of web/js, run in the browser as the pages load them."""

import re

import pytest

from emulator.rules import jsonsource
from emulator.rules.errors import Source
from stack.procs import ROOT


@pytest.fixture
def run(page, site):
    """Evaluate `body` (an async function body) with the page's modules imported as m.tree, m.format..."""
    page.goto(site + "__/firebase/init.json")  # same origin, no page script running

    def evaluate(body: str, arg=None):
        return page.evaluate(
            f"""async (arg) => {{
                const m = {{
                  tree: await import("/js/tree.js"), format: await import("/js/format.js"),
                  validate: await import("/js/validate.js"), db: await import("/js/db.js"),
                  auth: await import("/js/auth.js"),
                }};
                const decode = (part) => JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
                {body}
            }}""", arg)

    return evaluate


def test_stream_events_apply_at_any_depth(run):
    result = run("""
        const {applyEvent: apply} = m.tree;
        const steps = [];
        let v = apply(null, "put", {path: "/", data: {a: {x: 1, y: {z: 2}}, b: [10, 20]}});
        steps.push(v);
        const before = v;
        v = apply(v, "patch", {path: "/a", data: {"y/z": 3, "w": 4}});
        steps.push(v, v.b === before.b);                       // untouched subtree keeps its identity
        v = apply(v, "put", {path: "/a/y/z", data: null});      // empty parents vanish
        steps.push(v);
        v = apply(v, "put", {path: "/b/1", data: 21});          // arrays patched by index
        steps.push(m.tree.asList(v.b));
        v = apply(v, "patch", {path: "/", data: {a: null, "c/d": {}}});
        steps.push(v);
        steps.push(apply(v, "put", {path: "/", data: null}));
        steps.push(apply("leaf", "put", {path: "/k/j", data: null}));  // deleting under a leaf: no-op
        // Keys that are names on Object.prototype are plain data.
        let odd = apply(null, "put", {path: "/", data: JSON.parse('{"__proto__": {"polluted": 1}, "constructor": 2}')});
        odd = apply(odd, "patch", {path: "/", data: {"toString": 3, "__proto__/more": 4}});
        odd = apply(odd, "put", {path: "/hasOwnProperty", data: null});
        steps.push(Object.keys(odd).sort(), odd.toString, Object.getPrototypeOf(odd) === Object.prototype,
                   JSON.stringify(Object.getOwnPropertyDescriptor(odd, "__proto__").value), ({}).polluted ?? null);
        return steps;
    """)
    assert result == [
        {"a": {"x": 1, "y": {"z": 2}}, "b": [10, 20]},
        {"a": {"x": 1, "y": {"z": 3}, "w": 4}, "b": [10, 20]}, True,
        {"a": {"x": 1, "w": 4}, "b": [10, 20]},
        [10, 21],
        {"b": {"0": 10, "1": 21}},
        None,
        "leaf",
        ["__proto__", "constructor", "toString"], 3, True, '{"polluted":1,"more":4}', None,
    ]


def test_a_whole_new_value_keeps_the_identity_of_every_unchanged_child(run):
    result = run("""
        const {applyEvent: apply, share, equal} = m.tree;
        const put = (value, data) => share(value, apply(value, "put", {path: "/", data}));
        const a = put(null, {x: {n: 1, deep: {k: [1, 2]}}, y: {n: 2}});
        const b = put(a, {x: {n: 1, deep: {k: [1, 2]}}, y: {n: 3}, z: {n: 4}});   // the database sends it all again
        const c = put(b, {x: {n: 1, deep: {k: [1, 2]}}, y: {n: 3}, z: {n: 4}});
        const d = share(c, apply(c, "patch", {path: "/", data: {"y/n": 3, "z/n": 5}}));
        const e = put(d, {x: {n: 1, deep: {k: [1, 2]}}});                         // y and z left
        return [b.x === a.x, b.x.deep === a.x.deep, b.y !== a.y, b.y.n, c === b, d.y === c.y, d.z !== c.z,
                Object.keys(e), e.x === d.x,
                equal({a: 1, b: {c: [2]}}, {b: {c: [2]}, a: 1}), equal({a: 1}, {a: 1, b: 2}), equal([1, 2], {0: 1, 1: 2}),
                equal(null, null), equal("1", 1), equal({a: {b: 1}}, {a: {b: 2}})];
    """)
    assert result == [True, True, True, 3, True, True, True, ["x"], True, True, False, False, True, False, False]


def test_durations_and_words(run):
    result = run("""
        const f = m.format;
        return [
          f.resolutionText({p50: 6, p90: 48}), f.resolutionText({p50: 0.33, p90: 3.71}),
          f.resolutionText({p50: 24, p90: 24}), f.resolutionText({p50: 400, p90: 2000}), f.resolutionText({}),
          f.humanDuration(0.01), f.humanDuration(1), f.humanDuration(23.6), f.humanDuration(47, "ceil"),
          f.confidence({priority: "P2", priority_scores: {P2: 0.716}}), f.confidence({}),
          f.sentimentWords({label: "negative", score: -0.8}), f.sentimentWords({label: "neutral", score: 0.9}),
          f.sentimentWords({label: "positive", score: 0.2}), f.sentimentWords({label: "<b>"}),
          f.age(0, 59_000), f.age(0, 5 * 60_000), f.age(0, 3 * 3600_000), f.age(0, 50 * 3600_000),
          f.statusWords("new"), f.statusWords("solved"), f.statusWords("closed"), f.statusWords("hold"),
          f.statusWords("escalated"), f.statusWords("constructor"), f.statusWords(undefined), f.statusWords(3),
        ];
    """)
    assert result == [
        "about 6 hours, at most 2 days", "about 20 minutes, at most 4 hours", "about 1 day",
        "about 2 weeks, at most 12 weeks", None,
        "5 minutes", "1 hour", "1 day", "2 days",
        72, None,
        "Very negative", "Neutral", "Positive", None,
        "just now", "5 min ago", "3 h ago", "2 days ago",
        "New", "Solved", "Closed", "On hold", "escalated", "constructor", "", "",
    ]


def test_form_checks_mirror_the_database_rules(run):
    result = run("""
        const {check, length} = m.validate;
        const at = (n) => "a".repeat(n - "@example.com".length) + "@example.com";
        return [
          check("subject", "  "), check("subject", "é".repeat(200)), check("subject", "😀".repeat(201)),
          check("email", "a@b.c"), check("email", "a b@c.d"), check("impact", "4"), check("impact", "5"),
          check("seniority", "0"), check("seniority", "100.5"), check("category", "billing"), check("type", "bug"),
          // Lengths in UTF-16 units, as the rules' .length: 150 emoji are 150 code points but 300 units.
          length("😀"), length("é"), check("subject", "😀".repeat(100)), check("subject", "😀".repeat(150)),
          check("subject", "a" + "😀".repeat(100)), check("name", "👩‍💻".repeat(20)), check("name", "👩‍💻".repeat(21)),
          check("description", "🎉".repeat(2501)),
          check("email", at(254)), check("email", at(255)), check("email", ` ${at(254)} `),
        ];
    """)
    assert result[0] == "Enter a subject."
    assert result[1] == ""
    assert result[2] == ("Subject is 402 characters long; the limit is 200. Shorten it by 202. "
                         "Emoji and some symbols count as 2 characters.")
    assert result[3] == "" and result[4].endswith("Use the form name@example.com.")
    assert result[5] == "" and result[6] == "Choose how much this affects your work."
    assert result[7] == "" and "from 0 to 100" in result[8]
    assert result[9] == "" and result[10]
    assert result[11:13] == [2, 1]
    assert result[13] == ""
    assert result[14] == ("Subject is 300 characters long; the limit is 200. Shorten it by 100. "
                          "Emoji and some symbols count as 2 characters.")
    assert result[15].startswith("Subject is 201 characters long")
    assert result[16] == ""  # a person at a laptop is 5 units: 20 of them fill the 100
    assert result[17].startswith("Name is 105 characters long; the limit is 100.")
    assert result[18].startswith("Description is 5,002 characters long; the limit is 5,000.")
    assert result[19] == ""
    assert result[20] == "E-mail address is 255 characters long; the limit is 254. Shorten it by 1."
    assert result[21] == ""  # trimmed, as the form sends it


def rules_limits() -> dict:
    """Every `.length <= N` and `.val() <= N` of the ticket rules, by field name, from database.rules.json."""
    tree = plain(jsonsource.read(Source((ROOT / "database.rules.json").read_text())))
    ticket = tree["rules"]["tickets"]["$ticketId"]
    fields = {name: ticket[name] for name in ("subject", "description", "seniority", "impact")}
    fields |= {name: ticket["contact"][name] for name in ("name", "email")}
    limits = {}
    for name, rule in fields.items():
        found = re.findall(r"newData\.val\(\)(\.length)? <= (\d+)", rule[".validate"])
        assert len(found) == 1, (name, rule)
        limits[name] = int(found[0][1])
    return limits


def plain(value: jsonsource.JsonValue):
    """The JSON value without the positions the rules reader keeps."""
    if isinstance(value.value, dict):
        return {key: plain(child) for key, child in value.value.items()}
    if isinstance(value.value, list):
        return [plain(child) for child in value.value]
    return value.value


def test_the_form_limits_are_the_rules_limits(run, page, site):
    limits = rules_limits()
    assert limits == {"subject": 200, "description": 5000, "seniority": 100, "impact": 4, "name": 100, "email": 254}
    assert run("return m.validate.LIMITS;") == {k: v for k, v in limits.items() if k != "impact"}
    page.goto(site)  # the form: maxlength and max in the HTML, the counters' limits
    form = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll("#ticket-form [name]")]
        .filter((el) => el.maxLength > 0 || el.max).map((el) => [el.name, el.maxLength > 0 ? el.maxLength : Number(el.max)]))""")
    assert form == {k: v for k, v in limits.items() if k != "impact"}
    counters = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(".counter")]
        .map((el) => [el.id, Number(el.dataset.limit)]))""")
    assert counters == {"subject-count": limits["subject"], "description-count": limits["description"]}
    assert run("return m.validate.CHOICES.impact;") == [str(n) for n in range(limits["impact"] + 1)]


def test_a_customer_is_signed_in_anonymously_by_the_auth_emulator_and_urls_carry_the_token(run, page, stack):
    auth_calls = []
    page.on("request", lambda r: auth_calls.append(r.url) if "googleapis.com" in r.url else None)
    result = run("""
        await m.db.connect({role: "customer"});
        const url = new URL(m.db.dbUrl("tickets/-Abc"));
        const [header, payload, signature] = url.searchParams.get("auth").split(".");
        return {origin: url.origin, path: url.pathname, ns: url.searchParams.get("ns"), header: decode(header),
                payload: decode(payload), signature, user: m.auth.currentUser(),
                stored: JSON.parse(localStorage.getItem("tickets.auth.customer"))};
    """)
    assert result["origin"] == stack.urls["database"]
    assert (result["path"], result["ns"]) == ("/tickets/-Abc.json", stack.namespace)
    # The browser asked the Auth emulator (on the database's port) for the token; it made none itself.
    assert [url.split("?")[0] for url in auth_calls] == [
        f"{stack.urls['database']}/identitytoolkit.googleapis.com/v1/accounts:signUp"]
    assert "key=demo-api-key" in auth_calls[0]
    assert result["header"]["alg"] == "none" and result["signature"] == ""
    payload, user = result["payload"], result["user"]
    assert payload["sub"] == payload["user_id"] == user["uid"] == result["stored"]["uid"]
    assert result["stored"]["refreshToken"]
    assert payload["firebase"] == {"sign_in_provider": "anonymous", "identities": {}}
    assert user["provider"] == "anonymous" and user["email"] is None
    assert payload["aud"] == "demo-tickets" and payload["iss"] == "https://securetoken.google.com/demo-tickets"
    assert payload["exp"] - payload["iat"] == 3600


def test_an_agent_has_no_token_until_signed_in_then_the_agent_claim(run):
    result = run("""
        await m.db.connect({role: "agent"});
        const before = {user: m.auth.currentUser(), auth: new URL(m.db.dbUrl("tickets")).searchParams.get("auth")};
        const user = await m.auth.signIn("agent@example.com", "agent-password");
        const token = new URL(m.db.dbUrl("tickets")).searchParams.get("auth");
        return {before, user, payload: decode(token.split(".")[1])};
    """)
    assert result["before"] == {"user": None, "auth": None}
    payload = result["payload"]
    assert payload["agent"] is True and payload["email"] == "agent@example.com"
    assert payload["firebase"] == {"sign_in_provider": "password", "identities": {"email": ["agent@example.com"]}}
    assert result["user"]["uid"] == payload["user_id"] and result["user"]["claims"]["agent"] is True


def test_sign_in_errors_carry_firebase_codes_and_words_for_people(run):
    result = run("""
        await m.db.connect({role: "agent"});
        const attempt = async (email, password) => {
          try { await m.auth.signIn(email, password); return null; }
          catch (error) { return [error.name, error.kind, error.code, error.message]; }
        };
        return [await attempt("agent@example.com", "wrong-password"), await attempt("nobody@example.com", "whatever"),
                await attempt("not-an-address", "whatever"), m.auth.currentUser()];
    """)
    assert result == [
        ["AuthError", "refused", "INVALID_PASSWORD", "Wrong e-mail or password."],
        ["AuthError", "refused", "EMAIL_NOT_FOUND", "Wrong e-mail or password."],
        ["AuthError", "refused", "INVALID_EMAIL", "That is not an e-mail address. Use the form name@example.com."],
        None,
    ]


def test_card_states_from_waiting_to_resolved(run):
    result = run("""
        const {analysis, safeHttpUrl} = await import("/js/card.js");
        const view = (ticket, audience) => {
          const el = analysis(ticket, {audience});
          return {states: [...el.querySelectorAll("[data-state]")].map((n) => n.dataset.state), text: el.textContent,
                  items: [...el.querySelectorAll("li")].map((n) => n.textContent)};
        };
        const enrichment = {priority: "P2", priority_scores: {P1: 0.1, P2: 0.7, P3: 0.1, P4: 0.1},
                            sentiment: {label: "negative", score: -0.3}, resolution_hours: {p50: 6, p90: 48},
                            needs_review: true};
        return {
          waiting: view({subject: "s"}),
          error: view({enrichment_error: {message: "A. B.", problems: ["A.", "B."]}}),
          single: view({enrichment_error: {message: "Only one.", problems: ["Only one."]}}),
          syncing: view({enrichment}),
          linked: view({enrichment, helpdesk: {id: 4, url: "http://desk/4", synced_at: 1}}, "agent"),
          refused: view({enrichment, helpdesk_error: {message: "Helpdesk said no."}}),
          solved: view({enrichment, status: "solved", resolution: {status: "solved", final_priority: "P1", solved_at: 5}}),
          urls: [safeHttpUrl("https://x.test/a"), safeHttpUrl("javascript:alert(1)"), safeHttpUrl("data:text/html,x"),
                 safeHttpUrl(42), safeHttpUrl("/relative")],
        };
    """)
    assert result["waiting"]["states"] == ["waiting"]
    assert result["error"]["states"] == ["error"] and result["error"]["items"] == ["A.", "B."]
    assert "Only one." in result["single"]["text"] and result["single"]["items"] == []
    assert result["syncing"]["states"] == ["enriched", "syncing"]
    syncing = result["syncing"]["text"]
    for words in ("P2", "High", "70% confident", "Negative", "about 6 hours, at most 2 days", "a person will check"):
        assert words in syncing
    assert result["linked"]["states"] == ["enriched", "linked"]
    assert "Helpdesk ticket #4" in result["linked"]["text"] and "confirm or change it" in result["linked"]["text"]
    assert result["refused"]["states"] == ["enriched", "helpdesk-error"] and "Helpdesk said no." in result["refused"]["text"]
    assert result["solved"]["states"][-1] == "solved" and "final priority P1" in result["solved"]["text"]
    assert result["urls"] == ["https://x.test/a", None, None, None, None]


def test_a_row_list_keeps_its_rows_sorted_and_filtered_and_rebuilds_only_what_changed(run):
    result = run("""
        const {RowList} = await import("/js/rowlist.js");
        const list = document.createElement("ol");
        document.body.append(list);
        let built = 0;
        const rows = new RowList(list, {
          compare: (a, b) => a.value.n - b.value.n || (a.id < b.id ? -1 : 1),
          build: (id, value) => { built += 1; const li = document.createElement("li"); li.dataset.id = id; return li; },
        });
        const ids = () => [...list.children].map((li) => li.dataset.id);
        const out = {};
        for (let i = 0; i < 300; i += 1) rows.set(`k${i}`, {n: (i * 7) % 300, odd: i % 2 === 1}, {later: true});
        rows.filter((v) => v.odd);          // before any row is built
        rows.buildNow(10);
        out.first = [ids().length, built, rows.shown];
        rows.set("k1", {n: -1, odd: true});  // a waiting row given a value now is built now
        rows.delete("k3");                   // and a waiting one can go
        await new Promise((resolve) => { const wait = () => (rows.unbuilt ? setTimeout(wait, 5) : resolve()); wait(); });
        const expected = [...rows.items.values()].filter((item) => item.value.odd)
          .sort((a, b) => a.value.n - b.value.n || (a.id < b.id ? -1 : 1)).map((item) => item.id);
        out.sorted = JSON.stringify(ids()) === JSON.stringify(expected);
        out.counts = [rows.size, rows.shown, ids().length, built];
        const els = new Map([...list.children].map((li) => [li.dataset.id, li]));
        rows.set("k5", {n: 1000, odd: true});              // moves to the end, rebuilt alone
        rows.set("k7", rows.get("k7"));                    // the same value: nothing happens
        rows.filter(() => true);                           // even rows come back, none rebuilt
        out.moved = ids().at(-1) === "k5" && list.children.length === 299;
        out.kept = [...list.children].filter((li) => els.has(li.dataset.id) && els.get(li.dataset.id) !== li).map((li) => li.dataset.id);
        out.builtAfter = built;
        return out;
    """)
    assert result["first"] == [10, 10, 150]  # the first ten shown rows, built at once
    assert result["sorted"] is True
    assert result["counts"] == [299, 149, 149, 300]  # 299 items, every odd one shown, each row built once (k1 twice)
    assert result["moved"] is True
    assert result["kept"] == ["k5"]
    assert result["builtAfter"] == 301


def test_a_row_list_in_groups_keeps_order_counts_and_sizes_through_random_changes(run):
    """Rows in groups (as the queue keeps them): after any mix of adds, moves, deletes, later builds and filters,
    the rows in the document are exactly the shown items in order, each group says how many rows it shows and
    hides itself when none, no group is empty or over full, and only set() ever builds a row."""
    result = run("""
        const {RowList} = await import("/js/rowlist.js");
        const list = document.createElement("div");
        document.body.append(list);
        let built = 0;
        const compare = (a, b) => a.value.n - b.value.n || (a.id < b.id ? -1 : 1);
        const rows = new RowList(list, {
          compare, groupRows: 3,
          build: (id, value) => { built += 1; const el = document.createElement("p"); el.dataset.id = id; return el; },
          group: () => { const el = document.createElement("section"); el.className = "g"; return el; },
        });
        let seed = 7;
        const random = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
        const model = new Map();
        let accepts = () => true;
        const problems = [];
        let sets = 0;
        const check = (step) => {
          const expected = [...model.entries()].map(([id, value]) => ({id, value})).filter((i) => accepts(i.value))
            .sort(compare).map((i) => i.id);
          const shown = [...list.querySelectorAll("p")].map((el) => el.dataset.id);
          const building = rows.unbuilt > 0;
          // While rows wait to be built, the document holds the built ones, in order.
          const order = building ? expected.filter((id) => shown.includes(id)) : expected;
          if (JSON.stringify(shown) !== JSON.stringify(order)) problems.push([step, "order", shown.length, order.length]);
          if (rows.shown !== expected.length || rows.size !== model.size) problems.push([step, "counts"]);
          for (const g of list.children) {
            const n = g.querySelectorAll("p").length;
            if (!building && Number(g.style.getPropertyValue("--rows")) !== n) problems.push([step, "--rows", n]);
            if (!building && g.hidden !== (n === 0)) problems.push([step, "hidden", n]);
            if (g.children.length > 6) problems.push([step, "over full", g.children.length]);
          }
          const groups = new Set([...rows.items.values()].map((item) => item.group));
          if (groups.size !== list.children.length) problems.push([step, "groups", groups.size, list.children.length]);
          for (const group of groups) if (group.size === 0) problems.push([step, "empty group"]);
        };
        for (let step = 0; step < 600; step += 1) {
          const r = random();
          const id = `k${Math.floor(random() * 80)}`;
          if (r < 0.55) {
            model.set(id, {n: Math.floor(random() * 40), odd: random() < 0.5});
            rows.set(id, model.get(id), {later: random() < 0.3});
            sets += 1;
          } else if (r < 0.8) {
            model.delete(id);
            rows.delete(id);
          } else if (r < 0.9) {
            const kind = Math.floor(random() * 3);
            accepts = [() => true, (v) => v.odd, (v) => v.n < 20][kind];
            rows.filter(accepts);
          } else if (r < 0.95) {
            rows.buildNow(5);
          } else {
            await new Promise((resolve) => { const wait = () => (rows.unbuilt ? setTimeout(wait, 1) : resolve()); wait(); });
          }
          check(step);
        }
        await new Promise((resolve) => { const wait = () => (rows.unbuilt ? setTimeout(wait, 1) : resolve()); wait(); });
        check("end");
        rows.clear();
        return {problems: problems.slice(0, 10), builtAtMostSets: built <= sets, groupsLeft: list.children.length,
                size: model.size};
    """)
    assert result["problems"] == []
    assert result["builtAtMostSets"] is True
    assert result["groupsLeft"] == 0


def test_confidence_levels_languages_and_review_reasons_in_words(run):
    result = run("""
        const f = m.format;
        const e = {confidence: {priority: "high", sentiment: "low", resolution: "medium"}};
        return {
          levels: [f.level(e, "priority"), f.level(e, "sentiment"), f.level({confidence: {priority: "sure"}}, "priority"),
                   f.level({}, "priority"), f.level(undefined, "priority"), f.level({confidence: "high"}, "priority")],
          lowest: [f.lowestLevel(e), f.lowestLevel({confidence: {priority: "high", resolution: "medium"}}),
                   f.lowestLevel({priority: "P1"}), f.lowestLevel(null), f.lowestLevel({confidence: {constructor: "low"}})],
          languages: [f.languageWords("fr"), f.languageWords("en"), f.languageWords("und"), f.languageWords("zz"),
                      f.languageWords("not a code!"), f.languageWords(""), f.languageWords(null)],
          reasons: ["language:fr", "low_confidence:priority", "low_confidence:resolution", "empty_text", "new_rule:x", 42]
            .map(f.reviewReasonWords),
        };
    """)
    assert result["levels"] == ["high", "low", None, None, None, None]
    assert result["lowest"] == ["low", "medium", None, None, None]
    assert result["languages"][:3] == ["French (fr)", "English (en)", "Undetermined"]
    assert result["languages"][3:5] == ["zz", "not a code!"] and result["languages"][5:] == [None, None]
    assert result["reasons"] == ["Written in French (fr), a language the model was not trained on",
                                 "Low confidence in the priority", "Low confidence in the resolution time",
                                 "No subject or description to read", "new_rule:x", None]


def test_the_card_shows_a_confidence_level_per_prediction_and_none_for_tickets_scored_before_levels(run):
    result = run("""
        const {analysis} = await import("/js/card.js");
        const base = {priority: "P2", priority_scores: {P1: 0.1, P2: 0.7, P3: 0.1, P4: 0.1},
                      sentiment: {label: "negative", score: -0.3}, resolution_hours: {p50: 6, p90: 48}};
        const view = (enrichment, audience = "customer") => {
          const el = analysis({enrichment}, {audience});
          return {levels: Object.fromEntries([...el.querySelectorAll(".level")].map((n) => [n.dataset.head, n.textContent])),
                  reasons: [...el.querySelectorAll("[data-testid=review-reasons] li")].map((n) => n.textContent),
                  text: el.textContent};
        };
        const rated = {...base, language: "fr", confidence: {priority: "low", sentiment: "high", resolution: "medium"},
                       needs_review: true, review_reasons: ["language:fr", "low_confidence:priority"]};
        return {customer: view(rated), agent: view(rated, "agent"), old: view({...base, needs_review: true}, "agent"),
                junk: view({...base, confidence: {priority: "<b>x</b>", sentiment: 3}, review_reasons: "nope"}, "agent")};
    """)
    levels = {"priority": "Low confidence", "sentiment": "High confidence", "resolution": "Medium confidence"}
    assert result["customer"]["levels"] == levels and result["agent"]["levels"] == levels
    assert result["customer"]["reasons"] == []  # customers read that a person will check, not the model's reasons
    assert "a person will check" in result["customer"]["text"]
    assert result["agent"]["reasons"] == ["Written in French (fr), a language the model was not trained on",
                                          "Low confidence in the priority"]
    assert result["old"]["levels"] == {} and result["old"]["reasons"] == []
    assert "70% confident" in result["old"]["text"] and "The model is unsure of this priority" in result["old"]["text"]
    assert result["junk"]["levels"] == {} and "<b>" not in result["junk"]["text"]
