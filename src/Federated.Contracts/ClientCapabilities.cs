namespace Federated.Contracts;

/// <summary>What an agent reports about the machine it trains on.</summary>
/// <param name="Device">"cpu" or "cuda".</param>
/// <param name="GpuMemoryBytes">Memory of the GPU it trains on (0 on CPU).</param>
[GenerateSerializer, Immutable, Alias("fl.ClientCapabilities")]
public sealed record ClientCapabilities(
    [property: Id(0)] string Device,
    [property: Id(1)] long GpuMemoryBytes = 0,
    [property: Id(2)] string? AgentVersion = null)
{
    public static ClientCapabilities Cpu { get; } = new("cpu");
}
