"""web/js/pushid.js, in the browser: push ids made by the form sort in creation order, as Firebase's do."""

import re

from emulator.pushid import PushIdGenerator

PUSH_ID = re.compile(r"[-0-9A-Za-z_]{20}")  # the rules' $ticketId pattern
MS = 1_764_547_200_123


def generate(page, site, body: str, arg=None):
    """Evaluate `body` with `pushIdGenerator`, `nextPushId` and `pushIdTime` from the page's module."""
    page.goto(site + "__/firebase/init.json")  # same origin, no page script running
    return page.evaluate(f"""async (arg) => {{
        const {{pushIdGenerator, nextPushId, pushIdTime}} = await import("/js/pushid.js");
        {body}
    }}""", arg)


def assert_strictly_increasing(ids):
    assert all(PUSH_ID.fullmatch(i) for i in ids), ids
    assert all(a < b for a, b in zip(ids, ids[1:])), [(a, b) for a, b in zip(ids, ids[1:]) if a >= b][:3]


def test_ids_in_one_millisecond_increment_and_later_milliseconds_sort_after(page, site):
    ids = generate(page, site, """
        let ms = arg.ms;
        const next = pushIdGenerator({now: () => ms});
        const ids = [];
        for (let i = 0; i < 2000; i += 1) ids.push(next());   // all in one millisecond
        ms += 1;
        ids.push(next(), next());
        ms += 5000;
        ids.push(next());
        return ids;
    """, {"ms": MS})
    assert_strictly_increasing(ids)
    assert len(set(ids)) == len(ids)
    assert {i[:8] for i in ids[:2000]} == {ids[0][:8]}
    # The timestamp part is the emulator's (emulator/pushid.py: the same algorithm server-side).
    for i, ms in ((0, MS), (2000, MS + 1), (2002, MS + 5001)):
        assert ids[i][:8] == PushIdGenerator(clock=lambda ms=ms: ms).next_id()[:8]


def test_the_random_part_carries_and_borrows_the_next_millisecond_when_it_runs_out(page, site):
    result = generate(page, site, """
        const fixed = (digits) => () => [...digits];
        const carry = pushIdGenerator({now: () => arg.ms, random: fixed([...Array(11).fill(5), 63])});
        const full = pushIdGenerator({now: () => arg.ms, random: fixed(Array(12).fill(63))});
        const a = [carry(), carry()];
        const b = [full(), full(), full()];
        return {carry: a, full: b, times: b.map(pushIdTime)};
    """, {"ms": MS})
    first, second = result["carry"]
    assert (first[8:], second[8:]) == ("44444444444z", "44444444445-")  # digits 5...5,63 then 5...6,0
    assert_strictly_increasing(result["full"])
    assert result["full"][0][8:] == "z" * 12 and result["full"][1][8:] == "-" * 12  # 64^12 used: next millisecond
    assert result["times"] == [MS, MS + 1, MS + 1]


def test_ids_stay_ordered_when_the_clock_steps_back(page, site):
    ids = generate(page, site, """
        const times = [arg.ms, arg.ms + 10, arg.ms - 60000, arg.ms + 10, arg.ms + 11];
        let i = 0;
        const next = pushIdGenerator({now: () => times[i++]});
        return times.map(() => next());
    """, {"ms": MS})
    assert_strictly_increasing(ids)


def test_the_page_generator_makes_ten_thousand_ordered_unique_ids_at_the_current_time(page, site):
    result = generate(page, site, """
        const before = Date.now();
        const ids = Array.from({length: 10000}, () => nextPushId());
        return {ids, before, after: Date.now(), first: pushIdTime(ids[0]), last: pushIdTime(ids.at(-1)),
                invalid: [pushIdTime("short"), pushIdTime("%".repeat(20)), pushIdTime(42)].map(Number.isNaN)};
    """)
    assert_strictly_increasing(result["ids"])
    assert len(set(result["ids"])) == 10_000
    assert result["before"] <= result["first"] <= result["last"] <= result["after"] + 1
    assert result["invalid"] == [True, True, True]
