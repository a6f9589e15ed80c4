"""Presentation-attack detection measured the ISO/IEC 30107-3 way, small and seeded:
every attack species must have APCER 0 and the genuine sequences BPCER <= 5%."""

from __future__ import annotations

from conftest import FACES

from biometrics import pad_evaluation as pe

# three people (the face swap takes the next photo's person). Not every photo renders a
# convincing blink at 320x240 (George_W_Bush_0008's closed lids still measure 0.95 of open
# ones): the synthesizer's limit, documented in docs/biometrics.md
PHOTOS = (
    "lfw/Donald_Rumsfeld/Donald_Rumsfeld_0002.jpg",
    "deepface/tests/unit/dataset/img20.jpg",
    "deepface/tests/unit/dataset/img55.jpg",
)


def test_pad_evaluation_apcer_zero_for_every_species_and_bpcer_within_five_percent() -> None:
    tallies = pe.evaluate([FACES / p for p in PHOTOS], seed=7)
    result = pe.report(tallies)
    for name, species in result["species"].items():
        assert species["attempts"] == len(PHOTOS), name
        assert species["apcer"] == 0, (name, species)
    bona_fide = result["bona_fide"]
    assert bona_fide["attempts"] == len(PHOTOS)
    assert bona_fide["bpcer"] <= 0.05, bona_fide


def test_api_tally_counts_a_receipt_as_an_accepted_attack() -> None:
    tally = pe.api_tally(
        [
            {"outcome": "referred", "receipt": False, "liveness": ["static_image"]},
            {"outcome": "passed", "receipt": True, "liveness": []},
            {"skipped": "the photo is not enrol quality"},
        ]
    )
    assert tally["attempts"] == 2 and tally["errors"] == 1 and tally["apcer"] == 0.5
    assert tally["reasons"] == {"static_image": 1} and tally["skipped"] == 1
