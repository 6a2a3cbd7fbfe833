"""The hierarchical RNN: one LSTM reads each row pixel by pixel, a second reads the rows.

Li et al. 2015 (words -> sentences -> document) and Du et al. 2015 (joints -> body
parts -> skeleton) stack RNNs the same way; here it is pixels -> rows -> image, as in
the Keras example `mnist_hierarchical_rnn`.
"""

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn


@dataclass(frozen=True)
class HRNNConfig:
    image_size: int = 28  # rows per image, and pixels per row
    row_hidden: int = 128  # the row encoder's state: one vector per row
    col_hidden: int = 128  # the column encoder's state: one vector per image
    num_classes: int = 10

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "HRNNConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown model settings {sorted(unknown)}; expected {sorted(known)}")
        return cls(**values)


class HRNN(nn.Module):
    """Takes images (batch, 28, 28) with pixels in [0, 1], white ink on black."""

    def __init__(self, config: HRNNConfig = HRNNConfig()) -> None:
        super().__init__()
        self.config = config
        self.row_encoder = nn.LSTM(1, config.row_hidden, batch_first=True)
        self.col_encoder = nn.LSTM(config.row_hidden, config.col_hidden, batch_first=True)
        self.head = nn.Linear(config.col_hidden, config.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras's LSTM initialisation, the one the Keras example's results came from.

        Glorot-uniform input weights; the whole recurrent kernel orthogonal, as Keras does
        (its columns, not each gate's block); forget bias 1, so a row's first pixels survive.
        """
        for lstm in (self.row_encoder, self.col_encoder):
            hidden = lstm.hidden_size
            nn.init.xavier_uniform_(lstm.weight_ih_l0)  # Keras's fans: inputs and 4 gates
            # (4h, h) here is Keras's (h, 4h) kernel transposed: orthonormal columns W^T W = I.
            nn.init.orthogonal_(lstm.weight_hh_l0)
            nn.init.zeros_(lstm.bias_ih_l0)
            nn.init.zeros_(lstm.bias_hh_l0)
            with torch.no_grad():
                lstm.bias_ih_l0[hidden : 2 * hidden] = 1.0  # PyTorch's gate order: i, f, g, o
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(
        self, images: torch.Tensor, per_row: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Class logits (batch, 10); with per_row, also the head after every row.

        The per-row logits (batch, rows, 10) are what the model believes after reading
        rows 1..k: the column LSTM's output at step k through the same head. The head
        is a 128x10 matrix, so they cost almost nothing next to the LSTMs, and the
        last of them are the class logits.
        """
        batch, rows, width = images.shape
        # Every row of every image is one sequence of `width` pixels, one value each.
        pixels = images.reshape(batch * rows, width, 1)
        _, (row_state, _) = self.row_encoder(pixels)
        row_vectors = row_state[-1].reshape(batch, rows, -1)
        if not per_row:
            _, (image_state, _) = self.col_encoder(row_vectors)
            return self.head(image_state[-1])
        col_outputs, _ = self.col_encoder(row_vectors)
        row_logits = self.head(col_outputs)
        return row_logits[:, -1], row_logits
