using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Grains.Rounds;

namespace Federated.Grains.Tests;

/// <summary>Creation, registration and the checks around them, plus what a round does with bad or hostile updates.</summary>
public sealed class FederationLifecycleTests(EmbeddedCoordinator fixture) : IClassFixture<EmbeddedCoordinator>
{
    readonly FederationDriver _driver = new(fixture.Coordinator);
    IFederationGrain Federation(string id) => _driver.Grains.GetGrain<IFederationGrain>(id);

    [Fact]
    public async Task Invalid_config_is_refused_naming_every_offending_field()
    {
        var config = FederationDriver.Config(clientsPerRound: 4, quorum: 5) with
        {
            Aggregation = new AggregationSettings("stacking", Rule: "krum-ish"),
            TargetModules = [],
        };
        var e = await Assert.ThrowsAsync<FederationException>(() => Federation(FederationDriver.NewId()).CreateAsync(config));
        Assert.Equal(FederationError.InvalidArgument, e.Error);
        Assert.Contains("quorum: must be between 1 and clientsPerRound (4), not 5", e.Message);
        Assert.Contains("aggregation.strategy: 'stacking' is not one of", e.Message);
        Assert.Contains("aggregation.rule: 'krum-ish'", e.Message);
        Assert.Contains("targetModules", e.Message);

        var fedit = FederationDriver.Config() with { Aggregation = new AggregationSettings("fedit") };
        var mixed = await Assert.ThrowsAsync<FederationException>(() => Federation(FederationDriver.NewId()).CreateAsync(fedit));
        Assert.Contains("fedit needs one rank for every client", mixed.Message);
        var unpinned = await Assert.ThrowsAsync<FederationException>(() => Federation(FederationDriver.NewId()).CreateAsync(fedit with { RankPolicy = RankPolicy.Fixed(8), Architecture = null }));
        Assert.Contains("architecture: required", unpinned.Message); // uploads are checked against the base, never against each other
        var dense = await Assert.ThrowsAsync<FederationException>(() => Federation(FederationDriver.NewId()).CreateAsync(
            fedit with { RankPolicy = RankPolicy.Fixed(8), Aggregation = new AggregationSettings("fedit", Rule: "median") }));
        Assert.Contains("aggregation.rule: median returns a dense delta", dense.Message);
        var krum = await Assert.ThrowsAsync<FederationException>(() => Federation(FederationDriver.NewId()).CreateAsync(
            FederationDriver.Config(clientsPerRound: 6, quorum: 4) with { Aggregation = new AggregationSettings("flora", Rule: "krum", ByzantineCount: 1) }));
        Assert.Contains("quorum: krum with byzantineCount 1 needs at least 5 updates a round", krum.Message);
        var bucketed = await Assert.ThrowsAsync<FederationException>(() => Federation(FederationDriver.NewId()).CreateAsync(
            FederationDriver.Config(clientsPerRound: 10, quorum: 8) with { Aggregation = new AggregationSettings("flora", Rule: "krum", PreAggregator: "bucketing", ByzantineCount: 1) }));
        Assert.Contains("quorum: krum behind bucketing with byzantineCount 1 needs at least 9 updates a round", bucketed.Message); // 4 buckets of 2 leave Krum 4 inputs, not 5
        await Federation(FederationDriver.NewId()).CreateAsync(fedit with { RankPolicy = RankPolicy.Fixed(8) });
    }

    [Theory]
    [InlineData("flora", null, 0.0, "aggregation.globalEnergy: the fraction of each module's energy the global keeps must be in (0, 1], not 0")]
    [InlineData("flora", null, -0.1, "aggregation.globalEnergy: the fraction of each module's energy the global keeps must be in (0, 1], not -0.1")]
    [InlineData("flora", null, 1.5, "aggregation.globalEnergy: the fraction of each module's energy the global keeps must be in (0, 1], not 1.5")]
    [InlineData("flora", null, double.NaN, "aggregation.globalEnergy: the fraction of each module's energy the global keeps must be in (0, 1], not NaN")]
    [InlineData("hetlora", null, 0.9, "aggregation.globalEnergy: truncates a stacked global (flora, flexlora); hetlora's global is at the clients' rank already")]
    [InlineData("flora", "median", 0.9, "aggregation.globalEnergy: truncates a stacked global; median's dense result is written at the clients' rank instead")]
    public async Task An_energy_threshold_outside_zero_to_one_or_without_a_stacked_global_is_refused_precisely(string strategy, string? rule, double energy, string expected)
    {
        var config = FederationDriver.Config() with { Aggregation = new AggregationSettings(strategy, rule, GlobalEnergy: energy) };
        var e = await Assert.ThrowsAsync<FederationException>(() => Federation(FederationDriver.NewId()).CreateAsync(config));
        Assert.Equal(FederationError.InvalidArgument, e.Error);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("flora", 1.0)]
    [InlineData("flexlora", 0.95)]
    public async Task An_energy_threshold_in_zero_to_one_is_accepted_for_a_stacked_global(string strategy, double energy)
    {
        var created = await Federation(FederationDriver.NewId()).CreateAsync(FederationDriver.Config() with { Aggregation = new AggregationSettings(strategy, GlobalEnergy: energy) });
        Assert.Equal(energy, created.Config.Aggregation.GlobalEnergy);
    }

    [Fact]
    public async Task Creating_again_is_a_no_op_with_the_same_config_and_AlreadyExists_with_another()
    {
        string id = FederationDriver.NewId();
        var config = FederationDriver.Config();
        var created = await Federation(id).CreateAsync(config);
        // A copy, not the same instance: equality must be by value, arrays included.
        var again = await Federation(id).CreateAsync(config with { TargetModules = [.. config.TargetModules] });
        Assert.Equal(created.CreatedAt, again.CreatedAt);

        var e = await Assert.ThrowsAsync<FederationException>(() => Federation(id).CreateAsync(config with { Rounds = 7 }));
        Assert.Equal(FederationError.AlreadyExists, e.Error);
        Assert.Contains(id, await _driver.Grains.GetGrain<IFederationDirectoryGrain>(0).ListAsync());
    }

    [Fact]
    public async Task Unknown_federations_and_clients_are_NotFound()
    {
        string id = FederationDriver.NewId();
        Assert.Equal(FederationError.NotFound, (await Assert.ThrowsAsync<FederationException>(() => Federation(id).GetAsync())).Error);
        var register = await Assert.ThrowsAsync<FederationException>(() => _driver.Grains.GetGrain<IClientGrain>("c-" + id).RegisterAsync(id, ClientCapabilities.Cpu));
        Assert.Equal(FederationError.NotFound, register.Error);
        Assert.Equal(FederationError.NotFound, (await Assert.ThrowsAsync<FederationException>(() => _driver.Grains.GetGrain<IClientGrain>("c-" + id).GetAsync())).Error);
        Assert.Equal(FederationError.NotFound, (await Assert.ThrowsAsync<FederationException>(() => _driver.Round(id, 1).GetAsync())).Error);
    }

    [Fact]
    public async Task A_client_rank_follows_the_rank_policy_from_its_GPU_memory_and_it_stays_in_one_federation()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(), clients: 0);
        var client = _driver.Grains.GetGrain<IClientGrain>("gpu-" + fed);

        var small = await client.RegisterAsync(fed, new ClientCapabilities("cuda", 12L << 30));
        Assert.Equal((8, 16.0), (small.AssignedRank, small.Alpha));
        var upgraded = await client.RegisterAsync(fed, new ClientCapabilities("cuda", 80L << 30));
        Assert.Equal(16, upgraded.AssignedRank);
        Assert.Equal(small.RegisteredAt, upgraded.RegisteredAt);

        string other = await _driver.CreateAsync(FederationDriver.Config(), clients: 0);
        var e = await Assert.ThrowsAsync<FederationException>(() => client.RegisterAsync(other, ClientCapabilities.Cpu));
        Assert.Equal(FederationError.FailedPrecondition, e.Error);
    }

    [Fact]
    public async Task An_enrolled_client_authenticates_only_with_the_hash_it_enrolled_with()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(), clients: 0);
        var client = _driver.Grains.GetGrain<IClientGrain>("enrolled-" + fed);
        string hash = new('7', 64);
        await client.EnrollAsync(fed, ClientCapabilities.Cpu, hash);

        Assert.True(await client.AuthenticateAsync(hash));
        Assert.False(await client.AuthenticateAsync(new string('8', 64)));
        Assert.False(await _driver.Grains.GetGrain<IClientGrain>("registered-" + fed).AuthenticateAsync(hash));
    }

    [Fact]
    public async Task Starting_without_enough_clients_for_a_quorum_is_a_failed_precondition()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(clientsPerRound: 4, quorum: 3), clients: 2);
        var e = await Assert.ThrowsAsync<FederationException>(() => Federation(fed).StartAsync());
        Assert.Equal(FederationError.FailedPrecondition, e.Error);
        Assert.Contains("2 registered client(s); a round needs a quorum of 3", e.Message);
        Assert.Equal(FederationStatus.Created, (await Federation(fed).GetAsync()).Status);
    }

    [Fact]
    public async Task Unreadable_or_foreign_updates_are_rejected_with_their_reason_the_round_still_closes_and_their_reputation_falls()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(rounds: 1, clientsPerRound: 4, quorum: 1), clients: 4);
        await Federation(fed).StartAsync();
        var round = _driver.Round(fed, 1);
        var selected = (await round.GetAsync()).Selected;

        async Task Submit(string client, byte[] payload)
        {
            var reference = await _driver.Store.PutAsync(new MemoryStream(payload));
            var assignment = (await round.GetAssignmentAsync(client))!;
            Assert.True((await round.SubmitAsync(client, new Submission(reference, 5, assignment.Rank))).IsAccepted);
        }
        async Task<byte[]> Payload(string client, IReadOnlyList<ModuleShape> shapes, string baseModel)
        {
            var assignment = (await round.GetAssignmentAsync(client))!;
            using var adapter = RandomAdapters.Create(shapes, assignment.Rank, assignment.Alpha, seed: 1, baseModel: baseModel);
            return AdapterPayload.ToBytes(adapter);
        }

        await Submit(selected[0], "not a safetensors file"u8.ToArray());
        await Submit(selected[1], await Payload(selected[1], ModuleShape.LlamaFamily(32, 2, ["q_proj", "k_proj"]), "tiny-llama"));
        await Submit(selected[2], await Payload(selected[2], FederationDriver.Shapes, "another-model"));
        await Submit(selected[3], await Payload(selected[3], FederationDriver.Shapes, "tiny-llama"));

        var closed = await _driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished);

        Assert.Equal(RoundStatus.Closed, closed.Status);
        var outcome = closed.Outcomes.ToDictionary(o => o.ClientId);
        Assert.StartsWith("malformed:", outcome[selected[0]].Rejection);
        Assert.Contains("the adapter adapts k_proj; the federation's target modules are", outcome[selected[1]].Rejection);
        Assert.Contains("the adapter was trained on 'another-model'", outcome[selected[2]].Rejection);
        Assert.True(outcome[selected[3]].Accepted);
        Assert.Equal(1.0, outcome[selected[3]].Coefficient);

        await WaitForAsync(async () => (await _driver.Grains.GetGrain<IClientGrain>(selected[0]).GetAsync()).RoundsExcluded == 1);
        var rejected = await _driver.Grains.GetGrain<IClientGrain>(selected[0]).GetAsync();
        var accepted = await _driver.Grains.GetGrain<IClientGrain>(selected[3]).GetAsync();
        Assert.Equal((0, 1), (rejected.RoundsIncluded, rejected.RoundsExcluded));
        Assert.Equal((1, 0), (accepted.RoundsIncluded, accepted.RoundsExcluded));
        Assert.True(rejected.Reputation < 0.5 && accepted.Reputation > 0.5);
    }

    [Fact]
    public async Task Multi_krum_gives_a_scaled_attacker_no_weight()
    {
        var config = FederationDriver.Config(rounds: 1, clientsPerRound: 5, quorum: 5) with
        {
            RankPolicy = RankPolicy.Fixed(4),
            Aggregation = new AggregationSettings("flora", Rule: "multi-krum", ByzantineCount: 1),
        };
        string fed = await _driver.CreateAsync(config, clients: 5);
        await Federation(fed).StartAsync();
        var round = _driver.Round(fed, 1);
        var selected = (await round.GetAsync()).Selected;
        string attacker = selected[2];
        foreach (var client in selected)
        {
            var assignment = (await round.GetAssignmentAsync(client))!;
            var (honest, submission) = await _driver.UploadAsync(assignment, client);
            using (honest)
            {
                if (client == attacker)
                {
                    using var scaled = new LoraAdapter(honest.Modules.Select(m => new LoraModule(m.Name, m.A.clone(), m.B * 100, m.Alpha, m.UseRsLora)), honest.BaseModel);
                    var reference = await _driver.Store.PutAsync(new MemoryStream(AdapterPayload.ToBytes(scaled)));
                    submission = submission with { Update = reference };
                }
            }
            await round.SubmitAsync(client, submission);
        }

        var closed = await _driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished);

        var outcome = closed.Outcomes.ToDictionary(o => o.ClientId);
        Assert.Equal(0, outcome[attacker].Coefficient);
        Assert.All(closed.Outcomes.Where(o => o.ClientId != attacker), o => Assert.True(o.Coefficient > 0));
    }

    [Theory]
    [InlineData("median", null, null, 1, 1)]                   // a robust rule: one client, one vote, whatever it claims
    [InlineData(null, 100L, null, 100, 10)]                    // the plain mean: a claim counts up to the cap
    [InlineData("median", null, "examples", 1_000_000, 10)]    // an operator may ask for example weights under a rule
    public async Task An_inflated_example_count_gets_the_weight_the_federation_policy_allows(string? rule, long? cap, string? weighting,
        long countedInflated, long countedHonest)
    {
        var config = FederationDriver.Config(rounds: 1, clientsPerRound: 3, quorum: 3) with
        {
            RankPolicy = RankPolicy.Fixed(4),
            Aggregation = new AggregationSettings("flora", Rule: rule, MaxExampleCount: cap,
                Weighting: weighting is null ? null : Enum.Parse<ClientWeighting>(weighting, ignoreCase: true)),
        };
        string fed = await _driver.CreateAsync(config, clients: 3);
        await Federation(fed).StartAsync();
        var round = _driver.Round(fed, 1);
        var selected = (await round.GetAsync()).Selected;
        string inflated = selected[0];
        foreach (var client in selected)
        {
            var (adapter, submission) = await _driver.UploadAsync((await round.GetAssignmentAsync(client))!, client);
            adapter.Dispose();
            await round.SubmitAsync(client, submission with { ExampleCount = client == inflated ? 1_000_000 : 10 });
        }

        var outcomes = (await _driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished)).Outcomes.ToDictionary(o => o.ClientId);

        double total = countedInflated + 2.0 * countedHonest;
        Assert.Equal(countedInflated / total, outcomes[inflated].Weight, 12);
        Assert.Equal(countedInflated, outcomes[inflated].CountedExamples);
        Assert.All(selected.Skip(1), client => Assert.Equal(countedHonest / total, outcomes[client].Weight, 12));
    }

    [Fact]
    public void Selection_is_reproducible_from_the_seed_independent_of_candidate_order_and_varies_by_round()
    {
        var candidates = Enumerable.Range(0, 100).Select(i => new Candidate($"client-{i:D3}", 8)).ToArray();
        var first = ClientSelection.Select(candidates, 10, seed: 42, round: 1);
        var shuffled = ClientSelection.Select(candidates.Reverse(), 10, seed: 42, round: 1);
        var nextRound = ClientSelection.Select(candidates, 10, seed: 42, round: 2);

        Assert.Equal(first, shuffled);
        Assert.Equal(10, first.Distinct().Count());
        Assert.NotEqual(first.Select(c => c.ClientId).Order(), nextRound.Select(c => c.ClientId).Order());
        Assert.Equal(5, ClientSelection.Select(candidates.Take(5), 10, 42, 1).Length);
    }

    static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition() && DateTime.UtcNow < deadline) await Task.Delay(50);
    }
}
