"""The eval's self-consistency checker (``SupportChecker.supports``) with the real embedding
model and the real spaCy analysis, on sentences of the demo corpus."""
from __future__ import annotations

import pytest

from qa_service.services import Services
from qa_service.settings import CheckingSettings, Settings
from qa_service.support_check import SupportChecker

# Loads the real embedding model: not part of `make test-fast`.
pytestmark = pytest.mark.slow

LEDE = ("NEW YORK — Korea's science ministry and BlackRock signed a memorandum of understanding on AI, "
        "after President Lee Jae Myung sat down with BlackRock chief executive Larry Fink in New York on Monday, "
        "Sept. 22.")
JOINED = ("Fink, who also chairs the World Economic Forum, was joined at the meeting by Adebayo Ogunlesi, "
          "the chairman of Global Infrastructure Partners, and by Jim Yong Kim, a former president of the "
          "World Bank Group.")
SIGNED = "The memorandum was signed by Science and ICT Minister Bae Kyung-hoon and Fink while Lee looked on."
RATE = "The Bank of Korea held its base rate at 2.50 percent on Thursday, citing rising household debt."
# Says what RATE says in other words: few of its content words are RATE's, so only its meaning can pass it.
RATE_REWORDED = "The Bank of Korea left its benchmark rate unchanged at 2.50 percent."


@pytest.fixture(scope="module")
def checker(embedder):
    return SupportChecker(embedder)


@pytest.mark.parametrize("quote", [LEDE, JOINED, SIGNED, RATE])
def test_the_real_quote_supports_itself(checker, quote):
    assert checker.supports(quote, [quote])


def test_a_short_answer_is_supported_by_the_sentence_it_cites(checker):
    assert checker.supports("Bae Kyung-hoon and Fink", [SIGNED])
    assert checker.supports("Larry Fink", [LEDE])
    assert checker.supports("2.50 percent", [RATE])


def test_a_name_not_in_the_quotes_fails(checker):
    assert not checker.supports("Elon Musk and Fink signed the memorandum.", [SIGNED])
    assert checker.supports("Bae Kyung-hoon and Fink signed the memorandum.", [SIGNED])  # the same, stated
    assert not checker.supports("Caroline Mercer", [LEDE])
    assert not checker.supports("Adebayo Ogunlesi and Jim Yong Kim", [LEDE])


def test_a_number_or_date_not_in_the_quotes_fails(checker):
    assert checker.supports("Lee met Fink on Monday, Sept. 22.", [LEDE])
    assert not checker.supports("Lee met Fink on Monday, Sept. 23.", [LEDE])
    assert not checker.supports("Lee met Fink in 2024.", [LEDE])
    # Close in meaning, but the figure is not the one quoted.
    assert not checker.supports("The Bank of Korea left its benchmark rate unchanged at 2.75 percent.", [RATE])


def test_a_paraphrase_with_close_meaning_passes_by_its_meaning(checker, embedder):
    assert checker.supports(RATE_REWORDED, [RATE])
    # It passes on meaning, not on shared words: a checker that wants identical meaning refuses it.
    assert not SupportChecker(embedder, CheckingSettings(support_threshold=1.01)).supports(RATE_REWORDED, [RATE])


def test_a_statement_about_something_else_fails(checker):
    assert not checker.supports("The marathon was cancelled because of a typhoon.", [RATE])
    assert not checker.supports("The central bank raised its key interest rate to 3 percent.", [RATE])


def test_quotes_together_may_support_what_none_states_alone(checker):
    statement = "Larry Fink, Adebayo Ogunlesi and Jim Yong Kim attended the meeting."
    assert checker.supports(statement, [LEDE, JOINED])
    assert not checker.supports(statement, [LEDE])  # two of the names are only in JOINED


def test_no_quotes_or_no_statement_is_no_support(checker):
    assert not checker.supports("Larry Fink", [])
    assert not checker.supports(RATE, [])
    assert not checker.supports("", [RATE])
    assert not checker.supports("   ", [RATE])


def test_the_services_checker_takes_its_threshold_from_the_settings(tmp_path, embedder):
    services = Services(Settings(data_dir=tmp_path / "data", support_threshold=0.9), embedder=embedder)
    assert isinstance(services.checker, SupportChecker) and services.checker.threshold == 0.9
    assert services.checker.embedder is embedder
    assert not (tmp_path / "data").exists()  # the checker opens no index
