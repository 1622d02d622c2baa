"""Fine-tuning Qwen2.5-VL for the vlm backend: two-stage conversations from a
dataset, LoRA/QLoRA SFT and GRPO with format, label and box-IoU rewards
(docs/training.md)."""
