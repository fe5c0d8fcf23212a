"""Results across configurations: the declared metrics (``headline``), the long tables
(``tables``), the study report (``report``) and the comparison of two runs (``compare``)."""
