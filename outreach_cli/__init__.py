"""The ``outreach`` command. It sits above everything: it validates with the core
(``outreach``) and launches the Prefect flows (``flows``), which never import it."""
