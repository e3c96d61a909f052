using Federated.Agent.Hosting;
using Federated.Core.Compression;

namespace Federated.Agent.Rounds;

/// <summary>How the agent compresses its updates for upload (Agent:UploadCompression, Agent:UploadCompressionFraction).</summary>
/// <param name="Scheme">int8, topk or ternary; "none" is no <see cref="UploadCompression"/> at all.</param>
public sealed record UploadCompression(string Scheme, double Fraction)
{
    public const string None = "none";

    /// <summary>Whether <paramref name="setting"/> is a valid Agent:UploadCompression: none or a scheme name (any case).</summary>
    public static bool IsSetting(string? setting) =>
        setting is not null && (IsNone(setting) || CompressionSchemes.TryParse(setting.Trim().ToLowerInvariant(), out _));

    /// <summary>The validated options' compression, or null for plain float32 uploads.</summary>
    public static UploadCompression? FromOptions(AgentOptions options) =>
        IsNone(options.UploadCompression) ? null : new(options.UploadCompression.Trim().ToLowerInvariant(), options.UploadCompressionFraction);

    /// <summary>A compressor for one round's update; dispose it if it is <see cref="IDisposable"/>.</summary>
    /// <param name="roundSeed">Differs per agent and round (the training plan's seed).</param>
    public AdapterCompressor CreateCompressor(long roundSeed) =>
        // int8 rounds stochastically: E[decompressed] = the trained factor, so the coordinator's weighted average of
        // many clients' updates stays unbiased, where round-to-nearest's errors could all lean the same way. The seed
        // is a step of an LCG away from the training seed, so the rounding noise is not the LoRA initialisation's stream.
        AdapterCompressors.Create(Scheme, Fraction, unchecked(roundSeed * 6364136223846793005L + 1442695040888963407L));

    static bool IsNone(string setting) => setting.Trim().Equals(None, StringComparison.OrdinalIgnoreCase);
}
