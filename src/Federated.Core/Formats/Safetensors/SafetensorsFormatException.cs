using Federated.Core.Adapters;

namespace Federated.Core.Formats.Safetensors;

/// <summary>What is wrong with a safetensors file.</summary>
public enum SafetensorsError
{
    /// <summary>The file ends inside the 8-byte header length, or before the data its (consistent) offsets declare.</summary>
    Truncated,
    /// <summary>The declared header length exceeds the 100,000,000-byte limit of the official reader.</summary>
    HeaderTooLarge,
    /// <summary>The declared header length runs past the end of the file.</summary>
    HeaderBeyondFile,
    /// <summary>The header is not UTF-8, not JSON, not an object, or a tensor entry is malformed.</summary>
    InvalidHeader,
    /// <summary><c>__metadata__</c> is not an object of string values.</summary>
    InvalidMetadata,
    /// <summary>A dtype name that the spec does not define.</summary>
    UnknownDType,
    /// <summary>A dtype the spec defines but TorchSharp cannot hold (e.g. F8_E4M3, U16).</summary>
    UnsupportedDType,
    /// <summary>A tensor's byte length differs from product(shape) times the dtype size, or that product overflows.</summary>
    ShapeSizeMismatch,
    /// <summary>A tensor's data_offsets end before they begin.</summary>
    InvalidOffsets,
    /// <summary>A tensor starts past the end of the data buffer (after a hole), or an offset is not representable.</summary>
    OffsetsOutOfBounds,
    /// <summary>Tensors overlap, leave a hole between them, or leave unindexed bytes at the end of the buffer.</summary>
    OffsetsOverlapOrGap,
    /// <summary>A key appears twice in the header.</summary>
    DuplicateKey,
}

/// <summary>A safetensors file that the official reader would reject, or that this library cannot load.</summary>
public sealed class SafetensorsFormatException(SafetensorsError error, string message, Exception? inner = null)
    : AdapterFormatException(message, inner)
{
    public SafetensorsError Error { get; } = error;
}
