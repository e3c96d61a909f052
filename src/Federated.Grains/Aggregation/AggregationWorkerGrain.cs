using System.Diagnostics;
using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Core.Robust;
using Federated.Storage;
using Orleans.Concurrency;

namespace Federated.Grains.Aggregation;

/// <summary>
/// Loads a round's updates from the store, reads and checks them, and runs Federated.Core's
/// <see cref="Aggregator"/>. The math runs on the thread pool, not on the silo's scheduler threads.
/// An update that cannot be loaded or read is rejected with its reason; the others still aggregate.
/// </summary>
[StatelessWorker]
public sealed class AggregationWorkerGrain(IUpdateStore store, CoordinatorMetrics metrics) : Grain, IAggregationWorkerGrain
{
    public async Task<AggregationOutcome> AggregateAsync(AggregationJob job)
    {
        long started = Stopwatch.GetTimestamp();
        var payloads = await Task.WhenAll(job.Updates.Select(LoadAsync));
        var (global, outcomes, failure) = await Task.Run(() => Aggregate(job, payloads));
        StoredUpdate? stored = null;
        if (global is not null)
            stored = (await store.PutAsync(new MemoryStream(global, writable: false))).ToStoredUpdate();
        var duration = Stopwatch.GetElapsedTime(started);
        metrics.AggregationFinished(duration);
        return new AggregationOutcome(stored, outcomes, duration, failure);
    }

    async Task<(byte[]? Bytes, string? Error)> LoadAsync(JobUpdate update)
    {
        try
        {
            return (await store.ReadAsync(update.Update.ToReference()), null);
        }
        catch (UpdateStoreException e)
        {
            return (null, e.Message);
        }
    }

    static (byte[]? Global, ClientOutcomeView[] Outcomes, string? Failure) Aggregate(AggregationJob job, (byte[]? Bytes, string? Error)[] payloads)
    {
        var outcomes = new ClientOutcomeView?[job.Updates.Length];
        var updates = new List<ClientUpdate>();
        var positions = new List<int>();
        try
        {
            for (int k = 0; k < job.Updates.Length; k++)
            {
                var u = job.Updates[k];
                var (adapter, error) = payloads[k].Error is { } loadError ? (null, loadError) : Read(u, payloads[k].Bytes!, job);
                if (adapter is null)
                {
                    outcomes[k] = new ClientOutcomeView(u.ClientId, false, 0, 0, null, error);
                    continue;
                }
                updates.Add(new ClientUpdate(u.ClientId, adapter, u.ExampleCount, u.AllowedRank));
                positions.Add(k);
            }
            if (updates.Count == 0)
                return (null, Complete(outcomes), $"no update could be used; first: {job.Updates[0].ClientId}: {outcomes[0]!.Rejection}");

            var s = job.Settings;
            AggregationResult result;
            try
            {
                result = new AggregatorOptions(s.Strategy, s.Rule, s.PreAggregator, s.ByzantineCount, s.Tau, s.OutputRank, s.NormCap).Build().Aggregate(updates);
            }
            // Deterministic refusals (incompatible updates, a rule that needs more clients than arrived): retrying
            // cannot help, so the round fails with the reason instead.
            catch (Exception e) when (e is AdapterException or RobustRuleException or ArgumentException)
            {
                foreach (var k in positions)
                    outcomes[k] = new ClientOutcomeView(job.Updates[k].ClientId, false, 0, 0, null, $"not aggregated: {e.Message}");
                return (null, Complete(outcomes), e.Message);
            }
            using (result)
            {
                foreach (var (c, k) in result.Report.Clients.Zip(positions))
                    outcomes[k] = new ClientOutcomeView(c.ClientId, c.Accepted, c.Weight, c.Coefficient, c.Norm, c.RejectionMessage);
                return (AdapterPayload.ToBytes(result.Global), Complete(outcomes), null);
            }
        }
        finally
        {
            foreach (var u in updates) u.Adapter.Dispose();
        }
    }

    static (LoraAdapter? Adapter, string? Error) Read(JobUpdate u, byte[] bytes, AggregationJob job)
    {
        LoraAdapter adapter;
        try
        {
            adapter = AdapterPayload.Read(bytes, $"update {u.Update}");
        }
        catch (AdapterFormatException e)
        {
            return (null, $"malformed: {e.Message}");
        }
        string? error = null;
        if (adapter.BaseModel is { } trainedOn && trainedOn != job.BaseModel)
            error = $"trained on base model '{trainedOn}', but the federation's is '{job.BaseModel}'";
        else if (adapter.TargetModules.Except(job.TargetModules).ToList() is { Count: > 0 } foreign)
            error = $"adapts {string.Join(", ", foreign)}, outside the federation's target modules ({string.Join(", ", job.TargetModules)})";
        if (error is null) return (adapter, null);
        adapter.Dispose();
        return (null, error);
    }

    static ClientOutcomeView[] Complete(ClientOutcomeView?[] outcomes) => outcomes.Select(o => o!).ToArray();
}
