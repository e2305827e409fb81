"""Scoring a candidate's diagnosis: the submission they send and its automatic, partial-credit score."""

from obsim.scoring.automatic import Score, score
from obsim.scoring.submission import Submission, SubmissionError, load_submission

__all__ = ["Score", "Submission", "SubmissionError", "load_submission", "score"]
