using Federated.Contracts;

namespace Federated.Grains.Rounds;

/// <summary>Uniform selection without replacement, reproducible from the federation's seed and the round number.</summary>
static class ClientSelection
{
    public static Candidate[] Select(IEnumerable<Candidate> candidates, int count, long seed, int round)
    {
        // Sorted first: shards answer in any order, the selection must not depend on it.
        var pool = candidates.OrderBy(c => c.ClientId, StringComparer.Ordinal).ToArray();
        var random = new Random(unchecked((int)(seed * 1_000_003 + round)));
        int take = Math.Min(count, pool.Length);
        for (int i = 0; i < take; i++) // partial Fisher-Yates
        {
            int j = random.Next(i, pool.Length);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        return pool[..take];
    }
}
