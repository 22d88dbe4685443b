"""Server options passed through: `--model-arg ROLE=KEY=VALUE` and `extra_body:`.

The end-to-end test runs `debate run` against a tiny real HTTP server on loopback (the one
of `test_openai_http_edges.py`) and checks the request bodies it received.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import run_cli
from test_openai_http_edges import completion_body, scripted_server

from debate.bench.experiment import Experiment, plan_cells
from debate.core.bindings import ModelBindings
from debate.core.console import parse_model_args
from debate.errors import DebateInputError
from debate.models.openai import OpenAIModel


def test_model_args_parse_roles_values_and_dotted_keys() -> None:
    got = parse_model_args(
        [
            "judge=chat_template_kwargs.enable_thinking=false",
            "judge=top_logprobs=5",
            'provider={"require_parameters": true}',
            "judge=chat_template_kwargs.other=x y",
        ]
    )
    assert got == {
        "judge": {
            "chat_template_kwargs": {"enable_thinking": False, "other": "x y"},
            "top_logprobs": 5,
        },
        "": {"provider": {"require_parameters": True}},
    }
    for bad in ("nothing", "=k=v", "judge==v", "judge=a..b=1"):
        with pytest.raises(DebateInputError, match="--model-arg"):
            parse_model_args([bad])


def test_bindings_give_each_role_its_fields_and_refuse_them_elsewhere() -> None:
    bindings = ModelBindings(
        {"judge": "openai/m", "debater": "scripted"},
        options={"base_url": "http://127.0.0.1:9/v1"},
        request_fields={
            "": {"provider": {"require_parameters": True}},
            "judge": {"chat_template_kwargs": {"enable_thinking": False}},
        },
    )
    judge = bindings.model_for("judge", "qa-judge")
    assert isinstance(judge, OpenAIModel)
    assert judge.extra_body == {
        "provider": {"require_parameters": True},
        "chat_template_kwargs": {"enable_thinking": False},
    }
    assert bindings.fields_for("debater_a", "debater") == {}  # scripted: "" fields skip it
    other = ModelBindings({"judge": "scripted"}, request_fields={"judge": {"x": 1}})
    with pytest.raises(DebateInputError, match="openai/ models only"):
        other.model_for("judge", "qa-judge")


def test_experiment_extra_body_and_binding_form_reach_the_cells(tmp_path: Path) -> None:
    experiment = Experiment.model_validate(
        {
            "protocols": ["debate"],
            "judges": ["openai/judge-model"],
            "debaters": ["scripted"],
            "extra_body": {"*": {"provider": {"require_parameters": True}}},
            "bindings": {
                "judge": {
                    "model": "openai/judge-model",
                    "extra_body": {"chat_template_kwargs": {"enable_thinking": False}},
                }
            },
        }
    )
    (cell,) = plan_cells(experiment, tmp_path)
    assert cell.bindings["judge"] == "openai/judge-model"
    assert cell.model_args == {
        "": {"provider": {"require_parameters": True}},
        "judge": {"chat_template_kwargs": {"enable_thinking": False}},
    }
    wrong = Experiment.model_validate({"protocols": ["debate"], "extra_body": {"nobody": {}}})
    with pytest.raises(DebateInputError, match="extra_body.nobody"):
        plan_cells(wrong, tmp_path)


def test_debate_run_sends_the_model_args_to_the_server(tmp_path: Path) -> None:
    def script(n: int, request: dict[str, object]) -> tuple[int, dict[str, object], dict[str, str]]:
        return 200, completion_body("Answer: A"), {}

    with scripted_server(script) as (url, seen):
        done = run_cli(
            "run", "direct-qa", "--scenarios", "truthfulqa-sample", "--limit", "1", "--no-swap",
            "--model", "judge=openai/served", "--model-base-url", f"judge={url}",
            "--model-arg", "judge=chat_template_kwargs.enable_thinking=false",
            "--model-arg", "judge=provider.require_parameters=true",
            "--out", str(tmp_path / "run"),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert seen and all(
        body["chat_template_kwargs"] == {"enable_thinking": False}
        and body["provider"] == {"require_parameters": True}
        for body in seen
    )
    spec = yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text())
    assert spec["options"]["model_args"]["judge"]["chat_template_kwargs"] == {
        "enable_thinking": False
    }
    bad = run_cli(
        "run", "direct-qa", "--model", "scripted", "--model-arg", "judge=x=1",
        "--out", str(tmp_path / "bad"),
    )  # fmt: skip
    assert bad.returncode == 2 and "openai/ models only" in bad.stderr
