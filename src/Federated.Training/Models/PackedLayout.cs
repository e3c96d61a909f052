using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>
/// Where the tokens of a packed batch sit and what each may see, for sequences that share a prefix and are scored in one
/// row: every token gets the rotary position it would have alone, and attends only to the tokens it would see alone.
/// The caller owns both tensors.
/// </summary>
/// <param name="Positions">[B, T] int64: each token's position in its own sequence.</param>
/// <param name="Mask">[B, 1, T, T] bool: true where the query token (row) may attend the key token (column). Every row
/// must allow at least one key (padding attends itself), or attention divides by zero.</param>
public sealed record PackedLayout(Tensor Positions, Tensor Mask);
