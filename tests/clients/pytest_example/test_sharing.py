"""pytest-sharesim driving zenpy against `sharesim serve` (run by tests/it/fixtures_kits.rs).
The first test is the README's example, line for line."""
from zenpy.lib.api_objects import Comment, SharingAgreement, Ticket


def test_a_partner_answering_503_fails_the_invitation(sharesim, sharesim_ready):
    acme = sharesim_ready.account("acme").zenpy()
    sharesim.steps({"fault": {"account": "globex", "status": 503, "times": 1}})
    sent = acme.sharing_agreements.create(SharingAgreement(remote_subdomain="globex"))
    assert sent.status == "failed"
    answers = sharesim.journal(surface="partner", kind="response", status=503)
    assert len(answers) == 1 and answers[0]["from"] == "globex"


def test_the_world_is_reset_before_each_test(sharesim, sharesim_ready):
    acme = sharesim_ready.account("acme").zenpy()
    assert list(acme.sharing_agreements()) == []
    assert sharesim.accounts()[0]["agreements"] == {}


def test_a_shared_ticket_syncs_and_the_journal_verifies_it(sharesim, sharesim_ready):
    acme = sharesim_ready.account("acme").zenpy()
    globex = sharesim_ready.account("globex").zenpy()
    sent = acme.sharing_agreements.create(SharingAgreement(remote_subdomain="globex"))
    inbound = next(iter(globex.sharing_agreements()))
    inbound.status = "accepted"
    globex.sharing_agreements.update(inbound)
    ticket = acme.tickets.create(Ticket(subject="Printer on fire", description="Smoke",
                                        sharing_agreement_ids=[sent.id]))
    copy = next(iter(globex.tickets()))
    copy.comment = Comment(body="Which tray?", public=True)
    globex.tickets.update(copy)
    bodies = [c.body for c in acme.tickets.comments(ticket=ticket.id)]
    assert bodies == ["Smoke", "Which tray?"]
    assert sharesim.verify(surface="partner", kind="request", method="PUT", at_least=2)["passed"]
    snapshot = sharesim.snapshot()
    sharesim.reset()
    assert list(acme.tickets()) == []
    sharesim.restore(snapshot)
    assert [t.subject for t in acme.tickets()] == ["Printer on fire"]


def test_a_failed_step_raises_with_its_message(sharesim):
    import pytest
    from pytest_sharesim import StepFailed

    with pytest.raises(StepFailed, match="expect"):
        sharesim.steps({"expect": {"account": "acme", "count": 1}})
