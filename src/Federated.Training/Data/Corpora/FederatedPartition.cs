namespace Federated.Training.Data.Corpora;

/// <summary>One virtual client's data: what it trains on and its own held-out evaluation slice, from the same distribution.</summary>
public sealed record ClientPartition(int Client, IReadOnlyList<DomainExample> Train, IReadOnlyList<DomainExample> Evaluation)
{
    /// <summary>The client's training examples per domain, ordered by domain name: its domain mix, for reports.</summary>
    public IReadOnlyDictionary<string, int> TrainDomainCounts =>
        new SortedDictionary<string, int>(
            Train.GroupBy(e => e.Domain, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
            StringComparer.Ordinal);
}

/// <summary>
/// A corpus spread over clients: <see cref="Clients"/> in client order, and a <see cref="GlobalHeldOut"/> set (a fixed
/// fraction of every domain) that no client trains or evaluates on. No example appears twice across all of it.
/// </summary>
public sealed record FederatedPartition(
    PartitionScheme Scheme,
    PartitionOptions Options,
    IReadOnlyList<ClientPartition> Clients,
    IReadOnlyList<DomainExample> GlobalHeldOut);
