"""Widen a trained listener or speller without changing what the model computes (Net2WiderNet).

The small model underfits: it gets about one character in eight wrong on its own training audio.
More listener units would help, but training a wider model from random weights costs the many
CPU hours the small one already had.  Net2WiderNet (Chen et al. 2016) keeps them: every unit of
the wider BLSTMs starts as a copy of a unit of the narrow ones, and whatever read the original
unit now reads the copies with weights that sum to the original weight.  The wider model then
computes exactly what the narrow one did, and training goes on from there with more room.

The listener's width is ``encoder_hidden`` units per direction; it may grow by a whole factor
``k``.  Whole factors keep the LayerNorms exact: a vector in which every entry appears ``k``
times has the same mean and variance as the original.  Three kinds of vector carry the width:

* an encoder vector (the conv projection, each BLSTM's output, the attention's values), laid
  out ``[forward units, backward units]``, 2H entries -> ``[k copies of forward, k of backward]``;
* a pair of encoder vectors after a pyramid step, 4H entries;
* one LSTM direction's hidden state, H entries, and its four gates, 4H rows.

A parameter that *produces* such a vector has its rows copied (:func:`copy_rows`).  One that
*reads* it has its columns copied and split (:func:`split_columns`): the copies' weights are a
random split of the original, so the copies see different gradients and grow apart rather than
staying twins forever (the paper adds noise instead, which changes the function).

The speller's width is ``decoder_hidden``, and it grows the same way (:func:`widen_speller`): its
LSTM state, and the combined features the classifier reads, are laid out like one listener
direction.  :func:`widen` grows whichever of the two a wider config asks for.
"""

from __future__ import annotations

import dataclasses

import torch


def unit_index(hidden: int, factor: int) -> torch.Tensor:
    """For each unit of one wider LSTM direction, the narrow unit it copies: (factor * hidden,)."""
    return torch.arange(factor * hidden) % hidden


def blocks_index(block: torch.Tensor, old_block_size: int, blocks: int) -> torch.Tensor:
    """``blocks`` side-by-side copies of the layout ``block``: gates, directions, paired frames."""
    return torch.cat([block + i * old_block_size for i in range(blocks)])


def copy_rows(weight: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """A producer: output row ``p`` of the wider parameter is row ``index[p]`` of the narrow one."""
    return weight[index]  # advanced indexing copies


def split_columns(weight: torch.Tensor, index: torch.Tensor, generator: torch.Generator,
                  dim: int = 1) -> torch.Tensor:
    """A reader: column ``p`` gets a random share of column ``index[p]``; the shares sum to 1.

    ``dim`` is the axis that reads the widened vector (0 for a dot-product query's rows).
    """
    weight = weight.movedim(dim, -1)
    draws = torch.empty(*weight.shape[:-1], len(index)).uniform_(0.5, 1.5, generator=generator)
    totals = torch.zeros(*weight.shape).index_add_(-1, index, draws)
    shares = draws / totals[..., index]
    return (weight[..., index] * shares).movedim(-1, dim).contiguous()


def widen_listener(state_dict: dict[str, torch.Tensor], model_config, factor: int,
                   seed: int = 0) -> dict[str, torch.Tensor]:
    """The weights of ``model_config`` with ``encoder_hidden`` multiplied by ``factor``.

    ``state_dict`` is a :class:`asr.model.las.LAS` state dict for ``model_config`` (the narrow one);
    the result loads into the same config with ``encoder_hidden * factor`` and computes the same
    outputs, up to float rounding.  Everything not tied to the listener's width is kept as it is.
    """
    if factor < 1 or int(factor) != factor:
        raise ValueError(f"the listener widens by a whole factor, not {factor}")
    generator = torch.Generator().manual_seed(seed)
    hidden = model_config.encoder_hidden
    units = unit_index(hidden, factor)  # one direction's hidden state
    gates = blocks_index(units, hidden, 4)  # PyTorch's LSTM rows: input, forget, cell, output gates
    encoder = blocks_index(units, hidden, 2)  # [forward, backward]
    wide = dict(state_dict)

    def produce(name, index):
        wide[name] = copy_rows(state_dict[name], index)

    def read(name, index, dim=1):
        wide[name] = split_columns(state_dict[name], index, generator, dim)

    produce("listener.subsample.project.weight", encoder)
    produce("listener.subsample.project.bias", encoder)
    for part in ("weight", "bias"):
        produce(f"listener.subsample.norm.{part}", encoder)
    for layer in range(model_config.encoder_layers):
        prefix = f"listener.blstm.layers.{layer}"
        for direction in ("forward_lstm", "backward_lstm"):
            reads = state_dict[f"{prefix}.{direction}.weight_ih_l0"].shape[1] // (2 * hidden)  # 2 after a pyramid step
            wide[f"{prefix}.{direction}.weight_ih_l0"] = copy_rows(split_columns(
                state_dict[f"{prefix}.{direction}.weight_ih_l0"], blocks_index(encoder, 2 * hidden, reads),
                generator), gates)
            wide[f"{prefix}.{direction}.weight_hh_l0"] = copy_rows(split_columns(
                state_dict[f"{prefix}.{direction}.weight_hh_l0"], units, generator), gates)
            produce(f"{prefix}.{direction}.bias_ih_l0", gates)
            produce(f"{prefix}.{direction}.bias_hh_l0", gates)
        for part in ("weight", "bias"):
            produce(f"listener.blstm.norms.{layer}.{part}", encoder)

    # Readers of the encoder states: the CTC head, the attention, and the speller, which is fed
    # the attention's context (a weighted sum of encoder states, so laid out like one).
    read("ctc_head.weight", encoder)
    embedding, decoder = model_config.embedding_dim, model_config.decoder_hidden
    context_after = {"speller.lstm.weight_ih_l0": embedding, "speller.combine.weight": decoder}
    for name, before in context_after.items():  # [embedding or speller state, context] columns
        wide[name] = torch.cat([state_dict[name][:, :before],
                                split_columns(state_dict[name][:, before:], encoder, generator)], dim=1)
    attention = model_config.attention
    if attention in ("additive", "location"):
        read("speller.attention.key.weight", encoder)
    elif attention == "dot":  # scores are query . encoder state: the query's rows read the state
        read("speller.attention.query.weight", encoder, dim=0)
    elif attention == "multihead":
        read("speller.attention.key.weight", encoder)
        read("speller.attention.value.weight", encoder)
        produce("speller.attention.output.weight", encoder)  # the context comes back in encoder layout
        produce("speller.attention.output.bias", encoder)
    else:
        raise ValueError(f"cannot widen a listener read by {attention!r} attention")
    return wide


def widen_speller(state_dict: dict[str, torch.Tensor], model_config, factor: int,
                  seed: int = 0) -> dict[str, torch.Tensor]:
    """The weights of ``model_config`` with ``decoder_hidden`` multiplied by ``factor``.

    Three things carry the speller's width: each LSTM layer's state (``decoder_hidden`` units,
    four gates of rows each), the attention query, which is the top layer's state, and the
    combined features ``tanh(W [query; context])`` that the classifier reads.
    """
    if factor < 1 or int(factor) != factor:
        raise ValueError(f"the speller widens by a whole factor, not {factor}")
    generator = torch.Generator().manual_seed(seed)
    hidden = model_config.decoder_hidden
    units = unit_index(hidden, factor)
    gates = blocks_index(units, hidden, 4)
    wide = dict(state_dict)
    for layer in range(model_config.decoder_layers):
        lstm = f"speller.lstm.{{}}_l{layer}"
        inputs = state_dict[lstm.format("weight_ih")]
        if layer > 0:  # reads the layer below's state; layer 0 reads [embedding; context], unchanged
            inputs = split_columns(inputs, units, generator)
        wide[lstm.format("weight_ih")] = copy_rows(inputs, gates)
        wide[lstm.format("weight_hh")] = copy_rows(split_columns(state_dict[lstm.format("weight_hh")], units,
                                                                 generator), gates)
        for bias in ("bias_ih", "bias_hh"):
            wide[lstm.format(bias)] = copy_rows(state_dict[lstm.format(bias)], gates)
    combine = state_dict["speller.combine.weight"]  # columns: [query (hidden); context]
    wide["speller.combine.weight"] = copy_rows(torch.cat(
        [split_columns(combine[:, :hidden], units, generator), combine[:, hidden:]], dim=1), units)
    wide["speller.combine.bias"] = copy_rows(state_dict["speller.combine.bias"], units)
    wide["speller.classify.weight"] = split_columns(state_dict["speller.classify.weight"], units, generator)
    wide["speller.attention.query.weight"] = split_columns(state_dict["speller.attention.query.weight"], units,
                                                           generator)  # every attention type has one
    return wide


GROWABLE = ("encoder_hidden", "decoder_hidden")


def widen(state_dict: dict[str, torch.Tensor], narrow_config, wide_config, seed: int = 0) -> dict[str, torch.Tensor]:
    """``narrow_config``'s weights grown to the :data:`GROWABLE` widths of ``wide_config``.

    Every other setting is the caller's to match (:mod:`asr.training.trainer` refuses a checkpoint that differs
    in anything the weights depend on).
    """
    config = narrow_config
    for name, grow in (("encoder_hidden", widen_listener), ("decoder_hidden", widen_speller)):
        factor, remainder = divmod(getattr(wide_config, name), getattr(narrow_config, name))
        if remainder or factor < 1:
            raise ValueError(f"{name} can only grow, by a whole factor: "
                             f"{getattr(narrow_config, name)} -> {getattr(wide_config, name)}")
        if factor > 1:
            state_dict = grow(state_dict, config, factor, seed)
            config = dataclasses.replace(config, **{name: getattr(wide_config, name)})
    return state_dict
