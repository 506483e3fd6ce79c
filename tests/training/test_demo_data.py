"""Demo data is reproducible per seed, follows the ticket contract and carries learnable cues."""

import json
from collections import Counter

from ticketml.mask import mask_pii
from training import demo_data

TICKET_FIELDS = {"subject", "description", "contact", "category", "type", "impact",
                 "experience", "seniority", "created_at"}


def test_same_seed_same_records_and_other_seed_other_records():
    assert list(demo_data.generate(300, 7)) == list(demo_data.generate(300, 7))
    assert list(demo_data.generate(300, 7)) != list(demo_data.generate(300, 8))


def test_write_jsonl_writes_one_json_object_per_line(tmp_path):
    out = tmp_path / "sub" / "demo.jsonl"
    assert demo_data.write_jsonl(50, 1, out) == 50
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 50
    assert json.loads(lines[0]) == next(demo_data.generate(50, 1))


def test_records_follow_the_ticket_contract_with_a_few_messy_ones():
    records = list(demo_data.generate(2000, 3))
    assert [r["created_at"] for r in records] == sorted(r["created_at"] for r in records)
    messy = 0
    for r in records:
        assert TICKET_FIELDS - {"seniority"} <= set(r)
        assert r["category"] in demo_data.CATEGORIES and r["type"] in ("request", "issue")
        assert int(r["impact"]) in range(5)
        messy += isinstance(r["impact"], str) or "seniority" not in r or r["experience"] is None
        assert set(r["contact"]) == {"name", "email"}
        assert r["resolution"]["priority"] in ("P1", "P2", "P3", "P4")
        assert r["annotations"]["sentiment"] in ("negative", "neutral", "positive")
        if r["status"] == "open":
            assert "solved_at" not in r["resolution"]
        else:
            assert r["created_at"] < r["resolution"]["solved_at"] <= r["exported_at"]
    assert 0 < messy < 0.15 * len(records)


def test_every_label_class_and_some_open_tickets_occur():
    records = list(demo_data.generate(5000, 7))
    priorities = Counter(r["resolution"]["priority"] for r in records)
    assert set(priorities) == {"P1", "P2", "P3", "P4"}
    assert min(priorities.values()) > 0.05 * len(records)
    assert len({r["annotations"]["sentiment"] for r in records}) == 3
    assert any(r["status"] == "open" for r in records)


def test_urgency_cues_go_with_higher_priority():
    records = list(demo_data.generate(5000, 7))
    urgent = [r for r in records if "production is down" in r["description"].lower()]
    relaxed = [r for r in records if "no rush" in r["description"].lower()]
    share_p1 = lambda rs: sum(r["resolution"]["priority"] == "P1" for r in rs) / len(rs)  # noqa: E731
    assert urgent and relaxed
    assert share_p1(urgent) > 3 * share_p1(records) > share_p1(relaxed)


def test_descriptions_contain_personal_data_that_masking_removes():
    records = list(demo_data.generate(1000, 7))
    with_email = [r for r in records if r["contact"]["email"] in r["description"]]
    assert len(with_email) > 20
    assert all(r["contact"]["email"] not in mask_pii(r["description"]) for r in with_email)
    assert any("[CARD]" in mask_pii(r["description"]) for r in records)
    assert any("[SECRET]" in mask_pii(r["description"]) for r in records)
