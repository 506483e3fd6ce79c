"""The static word vector measurement reads vectors as unpacked from the wheel and averages them."""

import numpy as np
import pytest

from training.experiments.static_vectors import load_vectors, mean_vectors


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
