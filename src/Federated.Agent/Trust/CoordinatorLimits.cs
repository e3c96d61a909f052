namespace Federated.Agent.Trust;

/// <summary>
/// Bounds on what a coordinator may ask of this agent, far above any real federation's values: a task beyond them is
/// refused before it costs memory, disk or CPU. (gRPC itself caps a message at about 1 MiB.)
/// </summary>
public static class CoordinatorLimits
{
    /// <summary>base_model, strategy, Wait and Done reasons as acted on or logged.</summary>
    public const int MaxTextLength = 256;
    public const int MaxTargetModules = 64;
    public const int MaxModuleNameLength = 64;
    /// <summary>Merged history deltas one task may list (each is downloaded and merged).</summary>
    public const int MaxHistoryAdapters = 10_000;
    public const int MaxLocalSteps = 1_000_000;
    public const int MaxBatchSize = 4096;
    public const double MaxLearningRate = 10;
    public const double MaxLoraAlpha = 1e6;
    /// <summary>client_id as Register returns it: the coordinator's ids are short.</summary>
    public const int MaxClientIdLength = 128;
    public const int MaxCredentialLength = 1024;
}
