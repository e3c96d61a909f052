namespace Federated.Agent.Hosting;

/// <summary>The process exit code, set by the worker before it stops the host.</summary>
public sealed class AgentExit
{
    public const int Ok = 0, Failed = 1, BadConfiguration = 2;

    public int Code { get; set; } = Ok;
}
