"""`zoomin train sft|grpo` on the tiny random Qwen2.5-VL and a tiny dataset:
two optimisation steps each on CPU, finite losses, adapters the VLM backend
loads by path; the conversations are exactly what the backend sends and reads."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from models.dataset.jsonl import read_dataset
from models.image_input import load_image
from models.training.base import TrainingError
from models.training.config import TrainConfig
from models.training.conversations import ConversationSettings, record_examples
from models.training.data import load_examples
from models.training.grpo import train_grpo
from models.types import Box, Region
from models.vlm.backends import LocalVLM
from models.vlm.conversation import Generation, TextPart
from models.vlm.families import QWEN2_5_VL
from models.vlm.protocol import VisionLanguageDetector
from models.vlm.settings import VLMSettings
from tests.training_data import FAKE_BOXES, make_dataset
from zoomin_ui.cli import main

PIXELS, ZOOM, REGIONS = 56 * 56 * 4, 56, 2
SMALL = ["--max-steps", "2", "--max-image-pixels", str(PIXELS), "--zoom-size", str(ZOOM),
         "--max-regions", str(REGIONS), "--device", "cpu"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("dataset"))


@pytest.fixture(scope="module")
def sft_adapter(tiny_qwen, dataset, tmp_path_factory):
    """SFT through the command line: LoRA, 2 steps."""
    out = tmp_path_factory.mktemp("sft") / "adapter"
    result = CliRunner().invoke(main, ["train", "sft", str(dataset), "--base", str(tiny_qwen), "--out", str(out),
                                       "--lr", "1e-3", *SMALL])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return out, summary


def _backend_runs(model_folder, dataset, quant: str = "none"):
    detector = LocalVLM(model=str(model_folder), quant=quant, max_new_tokens=4, max_regions=1,
                        evidence_context=False, max_image_pixels=PIXELS, zoom_size=ZOOM)
    analysis = detector.analyze(load_image(dataset.parent / "fake-1.png"))
    assert analysis.backend == "vlm" and analysis.verdict in ("ai-generated", "real", "inconclusive")
    assert detector.loaded.folder == model_folder.resolve()
    return detector


class _Recorder:
    """A transport that answers each query with the training answer and keeps the request."""

    def __init__(self, answers):
        self.answers, self.requests = answers, []

    def generate(self, request):
        self.requests.append(request)
        return Generation(text=self.answers[request.stage])

    def describe(self):
        return {"model_id": "recorder"}


def _layout(turns):
    return [(turn.role, [part.text if isinstance(part, TextPart) else part.image.size for part in turn.parts])
            for turn in turns]


@pytest.mark.parametrize("label, evidence_context", [("fake", True), ("real", True), ("real", False)])
def test_conversations_are_what_the_backend_sends_and_parse_back(dataset, label, evidence_context):
    _round_trip(dataset, label, evidence_context)


def test_real_images_are_examined_on_the_engines_proposals_as_the_backend_does(dataset, monkeypatch):
    proposal = Region(box=Box(20, 10, 70, 60), score=0.6, label="resampled texture", explanation="upscaled patch")
    monkeypatch.setattr("models.evidence.engine.EvidenceEngine.scan", lambda self, image: [proposal])
    examine = _round_trip(dataset, "real", True)
    captions = [part.text for part in examine.turns[1].parts if isinstance(part, TextPart)]
    assert any("flagged as 'resampled texture' (upscaled patch)" in text for text in captions)
    assert len(examine.images) == 2  # the full image and the one proposal, not the grid


def _round_trip(dataset, label, evidence_context):
    """Train examples for one record vs what the protocol sends when the model gives their answers."""
    config = TrainConfig("unused", "unused", max_image_pixels=PIXELS, max_regions=REGIONS, zoom_size=ZOOM,
                         evidence_context=evidence_context)
    examples = load_examples(dataset, config, QWEN2_5_VL)  # no base checkpoint: the family is given
    index, record = next((i, r) for i, r in enumerate(read_dataset(dataset)) if r.label == label)
    scan, examine = examples[2 * index: 2 * index + 2]
    image = load_image(record.path)
    recorder = _Recorder({"scan": scan.answer, "examine": examine.answer})
    detector = VisionLanguageDetector("vlm", recorder, VLMSettings(
        max_image_pixels=PIXELS, max_regions=REGIONS, zoom_size=ZOOM, evidence_context=evidence_context))
    analysis = detector.analyze(image)
    assert ("Findings from the file itself" in scan.turns[1].parts[2].text) == evidence_context
    sent_scan, sent_examine = recorder.requests
    assert _layout(sent_scan.turns) == _layout(scan.turns)
    assert _layout(sent_examine.turns) == _layout(examine.turns)
    assert len(examine.images) == 1 + len(analysis.regions)  # the full image, then one crop per region
    if label == "fake":
        assert analysis.verdict == "ai-generated"
        for region, truth in zip(analysis.regions, FAKE_BOXES, strict=True):  # back to displayed pixels
            assert max(abs(a - b) for a, b in zip(region.box.to_list(), truth.to_list())) < 2
            assert region.score == 0.75  # the model's artifact: true finding was read
    else:
        assert analysis.verdict == "real" and all(r.score == 0.25 for r in analysis.regions)
    return examine


def test_sft_trains_on_the_answers_only_and_the_backend_loads_it(sft_adapter, dataset, tiny_qwen):
    out, summary = sft_adapter
    assert summary["steps"] == 2 and math.isfinite(summary["final_loss"])
    saved = json.loads((out / "training_config.json").read_text())
    assert saved["config"]["method"] == "sft" and len(saved["result"]["losses"]) == 2
    assert all(math.isfinite(loss) for loss in saved["result"]["losses"])
    assert saved["dataset"]["examples"] == 8 and len(saved["dataset"]["sha256"]) == 64
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_qwen)
    weights = load_file(out / "adapter_model.safetensors")
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b)  # B starts at zero: the steps changed it
    assert all("language_model" in name for name in weights)  # the vision tower is left alone
    detector = _backend_runs(out, dataset)
    base = LocalVLM(model=str(tiny_qwen), quant="none", max_new_tokens=4)
    tuned_q = detector.loaded.model.model.language_model.layers[0].self_attn.q_proj.weight
    base_q = base.loaded.model.model.language_model.layers[0].self_attn.q_proj.weight
    assert not torch.equal(tuned_q, base_q)  # the adapter was merged in
    assert detector.loaded.weights_sha256 != base.loaded.weights_sha256


def test_completion_only_loss_masks_the_prompt(dataset, tiny_qwen):
    from transformers import AutoProcessor
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    record = read_dataset(dataset)[1]
    example = record_examples(record, load_image(record.path), ConversationSettings(PIXELS, REGIONS, 0.25, ZOOM))[1]
    processor = AutoProcessor.from_pretrained(tiny_qwen)
    collator = DataCollatorForVisionLanguageModeling(processor=processor, completion_only_loss=True)
    row = {k: v for k, v in example.trl_row().items() if k in ("prompt", "completion", "images")}
    batch = collator([row])
    trained = batch["labels"][0][batch["labels"][0] != -100]
    assert processor.tokenizer.decode(trained).startswith(example.answer)
    assert "<verdict>generated</verdict>" in processor.tokenizer.decode(trained)
    assert trained.numel() < batch["input_ids"].shape[1] / 2   # images and prompt are not trained on


def test_qlora_sft_on_a_4bit_base(tiny_qwen, dataset, tmp_path):
    from models.training.sft import train_sft

    config = TrainConfig(base_model=str(tiny_qwen), output_dir=str(tmp_path / "qlora"), quantization="4bit",
                         max_steps=2, learning_rate=1e-3, max_image_pixels=PIXELS, zoom_size=ZOOM,
                         max_regions=REGIONS, device="cpu")
    result = train_sft(dataset, config)
    assert result.steps == 2 and all(math.isfinite(loss) for loss in result.losses)
    detector = _backend_runs(tmp_path / "qlora", dataset, quant="4bit")
    assert detector.loaded.describe()["quantization"] == "nf4"


def test_grpo_continues_the_sft_adapter_and_loads(sft_adapter, dataset, tiny_qwen, tmp_path):
    out = tmp_path / "grpo"
    result = CliRunner().invoke(main, ["train", "grpo", str(dataset), "--base", str(sft_adapter[0]), "--out",
                                       str(out), "--num-generations", "2", "--max-completion-length", "6",
                                       "--reward-weights", "format=1,label=2,iou=1", *SMALL])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 2 and math.isfinite(summary["final_loss"]) and "final_mean_reward" in summary
    saved = json.loads((out / "training_config.json").read_text())
    assert saved["config"]["reward_weights"] == {"format": 1.0, "label": 2.0, "iou": 1.0}
    assert saved["config"]["num_generations"] == 2
    # still the original base: GRPO trained the SFT adapter further
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_qwen)
    _backend_runs(out, dataset)


def test_grpo_updates_the_adapter_when_rewards_differ(tiny_qwen, dataset, tmp_path, monkeypatch):
    """Random weights earn zero on every reward (zero advantage, zero gradient); a reward
    that tells completions apart shows the policy-gradient step reaches the adapter."""
    def by_length(prompts, completions, **_):
        return [float(len(c[0]["content"])) for c in completions]

    monkeypatch.setattr("models.training.grpo.trl_reward_functions", lambda _: [by_length] * 3)
    config = TrainConfig(base_model=str(tiny_qwen), output_dir=str(tmp_path / "g"), method="grpo", max_steps=2,
                         learning_rate=1e-2, max_image_pixels=PIXELS, zoom_size=ZOOM, max_regions=REGIONS,
                         num_generations=2, max_completion_length=6, temperature=2.0, device="cpu")
    result = train_grpo(dataset, config)
    assert result.steps == 2 and all(math.isfinite(loss) for loss in result.losses)
    weights = load_file(tmp_path / "g" / "adapter_model.safetensors")
    assert any(t.abs().sum() > 0 for name, t in weights.items() if "lora_B" in name)


@pytest.mark.parametrize("arguments, message", [
    (["sft", "{missing}", "--base", "{model}", "--out", "{out}"], "dataset file not found"),
    (["sft", "{dataset}", "--base", "/no/such/model", "--out", "{out}"], "no model folder at /no/such/model"),
    (["grpo", "{dataset}", "--base", "{model}", "--out", "{out}", "--reward-weights", "speed=1"],
     "cannot read reward weight"),
    (["grpo", "{dataset}", "--base", "{model}", "--out", "{out}", "--num-generations", "1"],
     "at least 2 generations"),
])
def test_bad_input_gets_a_one_line_error(arguments, message, dataset, tiny_qwen, tmp_path):
    values = {"missing": tmp_path / "none.jsonl", "model": tiny_qwen, "out": tmp_path / "o", "dataset": dataset}
    result = CliRunner().invoke(main, ["train", *[a.format(**values) for a in arguments]])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_a_changed_image_stops_training_before_it_starts(tmp_path, tiny_qwen):
    from models.training.sft import train_sft

    path = make_dataset(tmp_path, count=1)
    (tmp_path / "real-0.png").write_bytes((tmp_path / "fake-1.png").read_bytes())
    with pytest.raises(TrainingError, match="has changed since it was annotated"):
        train_sft(path, TrainConfig(base_model=str(tiny_qwen), output_dir=str(tmp_path / "o"), max_steps=1))


def test_an_adapter_whose_base_is_missing_says_so(sft_adapter, tmp_path):
    from models.detector import DetectorUnavailable

    moved = tmp_path / "adapter"
    moved.mkdir()
    for path in sft_adapter[0].iterdir():
        (moved / path.name).write_bytes(path.read_bytes())
    config = json.loads((moved / "adapter_config.json").read_text())
    (moved / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "/no/such/base"}))
    with pytest.raises(DetectorUnavailable, match="no model folder at /no/such/base"):
        LocalVLM(model=str(moved), quant="none")


def test_qlora_without_bitsandbytes_says_to_use_lora(tiny_qwen, dataset, tmp_path, monkeypatch):
    monkeypatch.setattr("models.vlm.loading._bitsandbytes_problem", lambda device: "bitsandbytes is not installed")
    result = CliRunner().invoke(main, ["train", "sft", str(dataset), "--base", str(tiny_qwen), "--out",
                                       str(tmp_path / "o"), "--quant", "4bit", *SMALL])
    assert result.exit_code == 1 and "4-bit (QLoRA) is not available on cpu" in result.output
    assert "use --quant none" in result.output and "Traceback" not in result.output
