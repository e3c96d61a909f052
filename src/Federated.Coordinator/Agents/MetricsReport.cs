using System.Text.RegularExpressions;
using Federated.Contracts;
using Federated.Protocol.V1;

namespace Federated.Coordinator.Agents;

/// <summary>
/// The bounds of a client's metrics report, checked before anything is logged: a report is a handful of numbers
/// (train_loss, eval_loss, tokens_per_second, ...), so names are short identifiers. Values may be NaN:
/// a diverged run's loss is worth reporting.
/// </summary>
public static partial class MetricsReport
{
    public const int MaxMetrics = 32;
    public const int MaxNameLength = 64;

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_.-]*$")]
    private static partial Regex NamePattern();

    /// <summary>The report's metrics in name order, or InvalidArgument naming the first thing out of bounds.</summary>
    public static Dictionary<string, double> Check(ReportMetricsRequest request)
    {
        if (!GrainKeys.IsValidId(request.FederationId))
            throw AgentStatus.Invalid("federation_id: 1 to 64 letters, digits, '-', '_' or '.'");
        if (request.Round < 1)
            throw AgentStatus.Invalid($"round must be 1 or more, not {request.Round}");
        if (request.Metrics.Count > MaxMetrics)
            throw AgentStatus.Invalid($"{request.Metrics.Count} metrics in one report; at most {MaxMetrics}");
        var metrics = new Dictionary<string, double>(request.Metrics.Count, StringComparer.Ordinal);
        foreach (var (name, value) in request.Metrics.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            if (name.Length > MaxNameLength || !NamePattern().IsMatch(name))
                throw AgentStatus.Invalid($"metric names are identifiers of up to {MaxNameLength} letters, digits, '_', '.' or '-' (starting with a letter); one is not");
            metrics[name] = value;
        }
        return metrics;
    }
}
