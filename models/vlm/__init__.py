"""Vision-language backends: Qwen2.5-VL, Qwen3-VL and Qwen3.5 locate-then-examine, run locally
(transformers, 4-bit bitsandbytes) or on an OpenAI-compatible server.

One module per concern:
  families      one entry per model family: cells, pixel bounds, box convention, quirks
  hardware      which checkpoint and quantization fit this machine (estimates)
  settings      every knob, typed and checked
  loading       the one model-loading function (hub id or folder, quantization, device, cache)
  fingerprint   weights SHA-256 and software versions for the record
  conversation  the types a transport speaks
  prompts       the words of both queries
  parsing       reading boxes, findings and the verdict from free text
  geometry      model grid <-> displayed pixels, crops, duplicate boxes
  regions       regions as proposed and as judged
  verdict       model verdict, token-probability score, fusion with decisive evidence
  protocol      the two-stage detector both backends share
  local         transformers generation with the shared prefix's KV cache reused
  remote        OpenAI chat-completions transport
  backends      the "vlm" and "remote" detectors the registry builds

Importing this package loads neither torch nor transformers.
"""
