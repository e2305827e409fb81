"""Scoring a candidate's diagnosis: the submission they send and its automatic, partial-credit score."""

from interview.scoring.automatic import Score, score
from interview.scoring.submission import Submission, SubmissionError, load_submission

__all__ = ["Score", "Submission", "SubmissionError", "load_submission", "score"]
