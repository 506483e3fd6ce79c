"""The static word vector measurement reads vectors as unpacked from the wheel and averages them."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from training.experiments.static_vectors import load_vectors, mean_vectors, read_safetensor, token_mean_vectors


def test_mean_vector_of_known_words_normalised(tmp_path):
    (tmp_path / "words.txt").write_text("delay\nflight\nisn't\n")
    np.save(tmp_path / "glove_6B_50d_emb.npy",
            np.array([[3.0, 0.0], [0.0, 4.0], [1.0, 1.0]], dtype=np.float32))
    index, vectors = load_vectors(tmp_path)
    out, coverage = mean_vectors(["Flight DELAY again", "", "it isn't"], index, vectors)
    assert out[0] == pytest.approx([0.6, 0.8])  # mean (1.5, 2) over its norm 2.5
    assert (out[1] == 0).all()  # No known word: zeros.
    assert out[2] == pytest.approx([2 ** -0.5, 2 ** -0.5])
    assert coverage == pytest.approx(3 / 5)


def test_a_safetensors_tensor_is_read_without_the_package(tmp_path):
    table = np.arange(6, dtype="<f2").reshape(3, 2)
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "embedding.weight": {"dtype": "F16", "shape": [3, 2], "data_offsets": [0, table.nbytes]}})
    path = tmp_path / "weights.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header.encode() + table.tobytes())
    read = read_safetensor(path, "embedding.weight")
    assert read.dtype == np.float32 and (read == table.astype(np.float32)).all()


class _Tokenizer:
    """What token_mean_vectors asks of a `tokenizers.Tokenizer`: ids per text, <s> first."""

    def encode_batch(self, texts):
        return [SimpleNamespace(ids=[0] + [1 + len(word) % 2 for word in text.split()]) for text in texts]


def test_token_mean_vectors_leave_out_the_start_token_and_normalise():
    vectors = np.array([[9.0, 9.0], [3.0, 0.0], [0.0, 4.0]], dtype=np.float32)
    out, coverage = token_mean_vectors(["ab c", ""], _Tokenizer(), vectors)
    assert out[0] == pytest.approx([0.6, 0.8])  # tokens 2 ("ab") and 1 ("c"): mean (1.5, 2), norm 2.5
    assert (out[1] == 0).all() and coverage == 1.0
