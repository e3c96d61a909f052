namespace Federated.Training.Data.Corpora;

/// <summary>
/// Spreads domain-tagged examples over N virtual clients, reproducibly: all randomness comes from one
/// <c>new Random(seed)</c>, consumed in a fixed order, so the same examples, scheme and options give the same partition.
/// <list type="number">
/// <item>Global hold-out: the examples are grouped by domain (ordinal name order), each domain shuffled, and its first
/// <see cref="PartitionOptions.GlobalHeldOutFraction"/> (rounded; at least one of a domain with two or more examples)
/// set aside for global evaluation. No client ever sees them.</item>
/// <item>The rest (the pool) is assigned by the scheme:
/// <see cref="PartitionScheme.Natural"/>: with clients &lt;= domains, whole domains, largest first, each to the client
/// with the fewest examples so far (balanced sizes, every client at least one domain); with more clients than domains,
/// every domain gets one client plus extra clients where the examples per client are largest, and is cut into equal
/// contiguous parts. Slots are then mapped to client numbers by a seeded permutation.
/// <see cref="PartitionScheme.Dirichlet"/>: each client draws its domain mix q ~ Dirichlet(alpha * D * p), p the pool's
/// domain shares and D the number of domains, so alpha = 1 over equal domains is the flat Dirichlet and large alpha tends
/// to the global mix (IID); every client gets floor(pool / N) examples, drawn one at a time in client round-robin
/// without replacement from q renormalised over the domains not yet used up (round-robin so no client order is favoured).
/// <see cref="PartitionScheme.Iid"/>: the pool shuffled and cut into N parts whose sizes differ by at most one.</item>
/// <item>Each client's examples are shuffled, cut to <see cref="PartitionOptions.MaxExamplesPerClient"/>, and their first
/// <see cref="PartitionOptions.ClientEvaluationFraction"/> (rounded; at least one of two or more) kept for its evaluation.</item>
/// </list>
/// Examples are tracked by position, so equal duplicates in the input are still each used at most once.
/// </summary>
public static class Partitioning
{
    /// <exception cref="ArgumentException">No examples, an empty domain name, or more clients than the pool can serve.</exception>
    public static FederatedPartition Partition(IReadOnlyList<DomainExample> examples, PartitionScheme scheme, PartitionOptions options)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(scheme);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (examples.Count == 0)
            throw new ArgumentException("there are no examples to partition", nameof(examples));
        if (examples.Any(e => string.IsNullOrEmpty(e.Domain)))
            throw new ArgumentException("every example needs a domain name", nameof(examples));

        var random = new Random(options.Seed);
        var (heldOut, pool) = HoldOut(examples, options.GlobalHeldOutFraction, random);
        var poolSize = pool.Sum(d => d.Length);
        if (poolSize < options.Clients)
            throw new ArgumentException($"{poolSize} examples after the global hold-out cannot serve {options.Clients} clients", nameof(examples));

        var assigned = scheme switch
        {
            PartitionScheme.Natural => Natural(pool, options.Clients, random),
            PartitionScheme.Dirichlet d => Dirichlet(pool, options.Clients, d.Alpha, options.MaxExamplesPerClient, random),
            PartitionScheme.Iid => Iid(pool, options.Clients, random),
            _ => throw new ArgumentException($"unknown partition scheme {scheme}", nameof(scheme)),
        };

        var clients = new List<ClientPartition>(options.Clients);
        for (var client = 0; client < options.Clients; client++)
        {
            var own = assigned[client].ToArray();
            Shuffle(own, random);
            if (options.MaxExamplesPerClient is { } cap && own.Length > cap)
                own = own[..cap];
            var evaluation = HoldOutCount(own.Length, options.ClientEvaluationFraction);
            clients.Add(new ClientPartition(client, Pick(own[evaluation..]), Pick(own[..evaluation])));
        }
        return new FederatedPartition(scheme, options, clients, Pick(heldOut));

        IReadOnlyList<DomainExample> Pick(IEnumerable<int> indices) => indices.Select(i => examples[i]).ToList();
    }

    /// <summary>
    /// The global hold-out that <see cref="Partition"/> sets aside for the same examples, seed and fraction, without
    /// partitioning the rest: what evaluations outside a simulation (a task metric, <c>fed model eval</c>) use so that they
    /// never score an example any client trained on.
    /// </summary>
    /// <exception cref="ArgumentException">No examples or an empty domain name.</exception>
    public static IReadOnlyList<DomainExample> GlobalHeldOut(IReadOnlyList<DomainExample> examples, int seed, double fraction)
    {
        ArgumentNullException.ThrowIfNull(examples);
        new PartitionOptions(1, seed) { GlobalHeldOutFraction = fraction }.Validate();
        if (examples.Count == 0)
            throw new ArgumentException("there are no examples to hold out", nameof(examples));
        if (examples.Any(e => string.IsNullOrEmpty(e.Domain)))
            throw new ArgumentException("every example needs a domain name", nameof(examples));
        return HoldOut(examples, fraction, new Random(seed)).HeldOut.Select(i => examples[i]).ToList();
    }

    // Step 1 of the partition, shared with GlobalHeldOut so the two can never disagree: the random draws come first.
    static (List<int> HeldOut, List<int[]> Pool) HoldOut(IReadOnlyList<DomainExample> examples, double fraction, Random random)
    {
        var heldOut = new List<int>();
        var pool = new List<int[]>();
        foreach (var domain in examples.Select((e, i) => (e.Domain, i)).GroupBy(p => p.Domain, StringComparer.Ordinal)
                     .OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var indices = domain.Select(p => p.i).ToArray();
            Shuffle(indices, random);
            var count = HoldOutCount(indices.Length, fraction);
            heldOut.AddRange(indices[..count]);
            pool.Add(indices[count..]);
        }
        pool.RemoveAll(d => d.Length == 0);
        return (heldOut, pool);
    }

    /// <summary>round(count * fraction), but at least one and leaving at least one when count >= 2 and fraction > 0.</summary>
    internal static int HoldOutCount(int count, double fraction) =>
        fraction == 0 || count < 2 ? 0 : Math.Clamp((int)Math.Round(count * fraction, MidpointRounding.AwayFromZero), 1, count - 1);

    static List<int>[] Natural(List<int[]> pool, int clients, Random random)
    {
        var slots = Enumerable.Range(0, clients).Select(_ => new List<int>()).ToArray();
        if (clients <= pool.Count)
        {
            // Largest domain first onto the lightest slot: sizes stay balanced and every slot gets a domain.
            foreach (var domain in pool.OrderByDescending(d => d.Length))
                slots.MinBy(s => s.Count)!.AddRange(domain);
        }
        else
        {
            var parts = Enumerable.Repeat(1, pool.Count).ToArray();
            for (var extra = clients - pool.Count; extra > 0; extra--)
            {
                var widest = Enumerable.Range(0, pool.Count).MaxBy(d => (double)pool[d].Length / parts[d]);
                if (pool[widest].Length <= parts[widest])
                    throw new ArgumentException($"the domains cannot be split among {clients} clients", nameof(clients));
                parts[widest]++;
            }
            var slot = 0;
            for (var d = 0; d < pool.Count; d++)
                for (var part = 0; part < parts[d]; part++)
                    slots[slot++].AddRange(pool[d][(pool[d].Length * part / parts[d])..(pool[d].Length * (part + 1) / parts[d])]);
        }
        var order = Enumerable.Range(0, clients).ToArray();
        Shuffle(order, random);
        return order.Select(i => slots[i]).ToArray();
    }

    static List<int>[] Dirichlet(List<int[]> pool, int clients, double alpha, int? cap, Random random)
    {
        var total = pool.Sum(d => d.Length);
        var perClient = Math.Min(total / clients, cap ?? int.MaxValue);
        var concentrations = pool.Select(d => alpha * pool.Count * d.Length / total).ToArray();
        var mixes = Enumerable.Range(0, clients).Select(_ => DirichletSampler.Sample(random, concentrations)).ToArray();
        var taken = new int[pool.Count];
        var assigned = Enumerable.Range(0, clients).Select(_ => new List<int>(perClient)).ToArray();
        for (var step = 0; step < perClient; step++)
        {
            for (var client = 0; client < clients; client++)
            {
                var domain = DrawDomain(mixes[client], pool, taken, random);
                assigned[client].Add(pool[domain][taken[domain]++]);
            }
        }
        return assigned;
    }

    // A domain from the mix renormalised over domains with examples left; if the mix has no weight on any of them
    // (all its mass was on used-up domains), by the examples left.
    static int DrawDomain(double[] mix, List<int[]> pool, int[] taken, Random random)
    {
        var weight = 0.0;
        for (var d = 0; d < mix.Length; d++)
            if (taken[d] < pool[d].Length)
                weight += mix[d];
        var useMix = weight > 0;
        if (!useMix)
            for (var d = 0; d < mix.Length; d++)
                weight += pool[d].Length - taken[d];
        var target = random.NextDouble() * weight;
        var last = -1;
        for (var d = 0; d < mix.Length; d++)
        {
            if (taken[d] >= pool[d].Length)
                continue;
            last = d;
            target -= useMix ? mix[d] : pool[d].Length - taken[d];
            if (target < 0)
                return d;
        }
        return last; // rounding left a sliver of weight: the last domain with examples left
    }

    static List<int>[] Iid(List<int[]> pool, int clients, Random random)
    {
        var all = pool.SelectMany(d => d).ToArray();
        Shuffle(all, random);
        return Enumerable.Range(0, clients)
            .Select(c => all[(int)((long)all.Length * c / clients)..(int)((long)all.Length * (c + 1) / clients)].ToList())
            .ToArray();
    }

    // Fisher-Yates written out, like TrainingBatcher.Order, so a seed's result is pinned by this code, not the runtime.
    static void Shuffle(int[] items, Random random)
    {
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
