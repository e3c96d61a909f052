using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Federated.Contracts;

namespace Federated.Grains;

/// <summary>The coordinator's OpenTelemetry instruments (meter <see cref="MeterName"/>), recorded by the grains.</summary>
public sealed class CoordinatorMetrics
{
    public const string MeterName = "Federated.Coordinator";

    readonly Histogram<double> _roundDuration;
    readonly Histogram<double> _aggregationDuration;
    readonly Counter<long> _updatesAccepted;
    readonly Counter<long> _updatesRejected;
    readonly Counter<long> _bytesStored;
    readonly Counter<long> _rounds;

    public CoordinatorMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _roundDuration = meter.CreateHistogram<double>("federated.round.duration", "s", "Time from a round's opening to its close");
        _aggregationDuration = meter.CreateHistogram<double>("federated.aggregation.duration", "s", "Time to load, check and aggregate a round's updates");
        _updatesAccepted = meter.CreateCounter<long>("federated.updates.accepted", "{update}", "Submissions accepted into a round");
        _updatesRejected = meter.CreateCounter<long>("federated.updates.rejected", "{update}", "Submissions refused, by reason");
        _bytesStored = meter.CreateCounter<long>("federated.updates.bytes", "By", "Payload bytes of accepted submissions");
        _rounds = meter.CreateCounter<long>("federated.rounds", "{round}", "Rounds finished, by outcome");
        meter.CreateObservableGauge("federated.round.client_metric", ObserveClientMetrics, null,
            "Clients' training metrics over the latest round that reported any, per federation: weighted by counted examples");
    }

    // Federation -> its latest reporting round's metrics (at most ClientMetrics.MaxMetrics names): bounded series.
    readonly ConcurrentDictionary<string, (int Round, RoundMetric[] Metrics)> _clientMetrics = new(StringComparer.Ordinal);

    /// <summary>A round's clients' metrics changed: export them, unless a later round of the federation already reported.</summary>
    public void RoundClientMetrics(string federationId, int round, RoundMetric[] metrics) =>
        _clientMetrics.AddOrUpdate(federationId, (round, metrics), (_, current) => round >= current.Round ? (round, metrics) : current);

    IEnumerable<Measurement<double>> ObserveClientMetrics() =>
        _clientMetrics.SelectMany(f => f.Value.Metrics.Select(m => new Measurement<double>(m.Value,
            new("federation", f.Key), new("round", f.Value.Round), new("name", m.Name))));

    public void SubmissionAccepted(long bytes)
    {
        _updatesAccepted.Add(1);
        _bytesStored.Add(bytes);
    }

    public void SubmissionRejected(string reason) => _updatesRejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void AggregationFinished(TimeSpan duration) => _aggregationDuration.Record(duration.TotalSeconds);

    public void RoundFinished(string status, TimeSpan duration)
    {
        _rounds.Add(1, new KeyValuePair<string, object?>("status", status));
        _roundDuration.Record(duration.TotalSeconds);
    }
}
