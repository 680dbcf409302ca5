"""A tiny Llama built at test time: a BPE tokenizer trained on a few lines and a 2-layer model from a config.

Hidden size 128 with 2 heads (head size 64): vLLM's CPU attention crashes on head size 16.

Nothing is downloaded; the result is a normal Hugging Face model directory.
"""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "hello world, this is a tiny corpus for a tiny tokenizer",
    "the assistant answers questions about the weather and the sea",
    "user asks: what is the capital of france? assistant: paris",
    "<|system|> <|user|> <|assistant|> <|tool|>",
] * 20


def build_tiny_llama(directory: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.train_from_iterator(
        CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>", "<pad>"])
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    # a chat template, so an OpenAI-compatible server (vLLM) can answer chat completions with it
    fast.chat_template = (
        "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    )
    fast.save_pretrained(directory)
    config = LlamaConfig(
        vocab_size=fast.vocab_size if hasattr(fast, "vocab_size") else len(fast),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory
