"""Running interviews: sessions, the candidate's recorded investigation, hints and submissions, and
their scoring (`interview.scoring`).  A consumer of the contract (`obsim`); no engine, no Flask."""
