"""Packaging detail pyproject.toml cannot express: the top-level declaration folders
(agents/, judges/, protocols/, scenarios/) ship inside the wheel as debate.library.*, and
the web pages' files ship next to the modules that serve them."""

from setuptools import find_packages, setup

KINDS = ("agents", "judges", "protocols", "scenarios")

setup(
    packages=find_packages(include=["debate", "debate.*"]) + [f"debate.library.{k}" for k in KINDS],
    package_dir={f"debate.library.{kind}": kind for kind in KINDS},
    package_data={
        **{f"debate.library.{kind}": ["*.yaml", "*.md", "data/*", "data/**/*"] for kind in KINDS},
        # the web pages (plain HTML, CSS and JavaScript; no build step)
        "debate.models": ["human_page/*"],
        "debate.view": ["static/*"],
    },
    include_package_data=False,
)
