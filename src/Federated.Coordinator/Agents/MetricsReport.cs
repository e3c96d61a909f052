using Federated.Contracts;
using Federated.Protocol.V1;

namespace Federated.Coordinator.Agents;

/// <summary>A client's metrics report, checked against <see cref="ClientMetrics"/>'s bounds before anything is kept or logged.</summary>
public static class MetricsReport
{
    /// <summary>The report's metrics in name order, or InvalidArgument naming the first thing out of bounds.</summary>
    public static Dictionary<string, double> Check(ReportMetricsRequest request)
    {
        if (!GrainKeys.IsValidId(request.FederationId))
            throw AgentStatus.Invalid("federation_id: 1 to 64 letters, digits, '-', '_' or '.'");
        if (request.Round < 1)
            throw AgentStatus.Invalid($"round must be 1 or more, not {request.Round}");
        if (ClientMetrics.Problem(request.Metrics) is { } problem)
            throw AgentStatus.Invalid(problem);
        return request.Metrics.OrderBy(m => m.Key, StringComparer.Ordinal).ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal);
    }
}
