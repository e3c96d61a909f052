using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Federation;
using Federated.Grains.Federations;
using Federated.Training.Rounds;
using static TorchSharp.torch;

namespace Federated.Simulator.Tests.Strategies;

/// <summary>
/// Each strategy across three rounds, as its paper defines it, through the real coordinator grains and the client round
/// the agent and the simulator share (tiny Llama model, real training).
/// </summary>
[Collection(TorchSharpCollection.Name)]
public sealed class StrategyAcrossRoundsTests
{
    const int Rounds = 3;

    [Fact]
    public async Task Fedit_with_identical_clients_equals_centralised_training_of_one_lora_for_the_same_steps()
    {
        await using var h = await StrategyHarness.StartAsync(clients: 3, identicalData: true);
        string fed = await h.CreateAsync("fedit", [4, 4, 4]);
        const long dataSeed = 5;
        FederationModel? model = null;
        for (int t = 1; t <= Rounds; t++)
        {
            var (round, updates, assignments) = await h.RunRoundAsync(fed, t, 3, dataSeed);
            foreach (var u in updates) u.Dispose();
            Assert.Equal(RoundStatus.Closed, round.Status);
            Assert.All(assignments, a => Assert.NotNull(a.Init));
            Assert.Single(assignments.Select(a => a.Init).Distinct()); // one shared adapter, not one per client
            model = round.Model!;
            Assert.Empty(model.History);
        }

        // One LoRA trained centrally for the same three stretches of steps, from the federation's seeded A and B = 0.
        var config = (await h.Grains.GetGrain<IFederationGrain>(fed).GetAsync()).Config;
        var shapes = BaseModelManifest.ModuleShapes(config.Architecture, config.TargetModules)!;
        var adapter = SeededAdapter.Create(shapes, 4, config.RankPolicy.AlphaFor(4), config.Seed, config.BaseModel);
        var task = new ClientRoundTask(config.TargetModules, 4, config.RankPolicy.AlphaFor(4), 0, config.Training.LocalSteps,
            config.Training.BatchSize, config.Training.LearningRate, dataSeed, config.BaseModel);
        for (int t = 1; t <= Rounds; t++)
        {
            var (next, _) = h.Client.Train(task, adapter, h.Data[0]);
            adapter.Dispose();
            adapter = next;
        }
        using (adapter)
        using (var live = await h.ReadAsync(model!.Live!))
            AssertSameDelta(adapter, live, 1e-5);
    }

    [Fact]
    public async Task Ffa_keeps_one_frozen_A_bit_for_bit_across_rounds_and_refuses_an_update_with_another_A()
    {
        await using var h = await StrategyHarness.StartAsync(clients: 3);
        string fed = await h.CreateAsync("ffa", [4, 8, 8]);
        var start = (await h.FederationAtAsync(fed, 1)).Model!;
        using var firstLive = await h.ReadAsync(start.Live!);
        for (int t = 1; t <= Rounds; t++)
        {
            var (round, updates, assignments) = await h.RunRoundAsync(fed, t, 3);
            Assert.Equal(RoundStatus.Closed, round.Status);
            Assert.All(round.Outcomes, o => Assert.True(o.Accepted, o.Rejection));
            for (int k = 0; k < 3; k++)
                using (updates[k])
                using (var init = await h.ReadAsync(assignments[k].Init!))
                    foreach (var m in updates[k].Modules)
                    {
                        Assert.True(Same(m.A, init[m.Name].A), $"round {t}, client {k}: A of {m.Name} was trained");
                        Assert.True(Same(m.A, firstLive[m.Name].A.narrow(0, 0, m.Rank)));
                    }
            using var live = await h.ReadAsync(round.Model!.Live!);
            foreach (var m in live.Modules)
                Assert.True(Same(m.A, firstLive[m.Name].A), $"round {t}: the live A of {m.Name} moved");
        }

        // An upload whose A differs: the admission check refuses it (as the upload path does), and the worker does too.
        await using var h2 = await StrategyHarness.StartAsync(clients: 3);
        string other = await h2.CreateAsync("ffa", [4, 4, 4], rounds: 1);
        await h2.FederationAtAsync(other, 1);
        var a = (await h2.Round(other, 1).GetAssignmentAsync(StrategyHarness.ClientId(0)))!;
        using var honest = await h2.TrainAsync(a, 0);
        using var tampered = new LoraAdapter(honest.Modules.Select(m => m.With(m.A + 1e-3f, m.B.clone(), m.Alpha)), honest.BaseModel);
        using (var init = await h2.ReadAsync(a.Init!))
        {
            var refusal = UpdateAdmission.Check(tampered, 4, BaseModelManifest.Admission(a.BaseModel, a.TargetModules, a.Architecture, a.Rank, init));
            Assert.Equal(AdmissionError.FrozenFactorChanged, refusal?.Error);
            Assert.Null(UpdateAdmission.Check(honest, 4, BaseModelManifest.Admission(a.BaseModel, a.TargetModules, a.Architecture, a.Rank, init)));
        }
        Assert.True((await h2.SubmitAsync(other, 1, 0, tampered)).IsAccepted); // the grain takes references; the worker reads values
        for (int k = 1; k < 3; k++)
        {
            var ak = (await h2.Round(other, 1).GetAssignmentAsync(StrategyHarness.ClientId(k)))!;
            using var u = await h2.TrainAsync(ak, k);
            await h2.SubmitAsync(other, 1, k, u);
        }
        var closed = await h2.CloseAsync(other, 1);
        var outcome = closed.Outcomes.Single(o => o.ClientId == StrategyHarness.ClientId(0));
        Assert.False(outcome.Accepted);
        Assert.Contains("differs from the frozen A", outcome.Rejection);
        Assert.Equal(RoundStatus.Closed, closed.Status);
    }

    [Fact]
    public async Task Flexlora_hands_each_client_the_rank_r_truncated_svd_of_the_exact_global()
    {
        await using var h = await StrategyHarness.StartAsync(clients: 3);
        string fed = await h.CreateAsync("flexlora", [2, 4, 8]);
        for (int t = 1; t <= Rounds; t++)
        {
            var (round, updates, assignments) = await h.RunRoundAsync(fed, t, 3);
            Assert.Equal(RoundStatus.Closed, round.Status);
            if (t == 1) Assert.All(assignments, a => Assert.Null(a.Init)); // the global is still zero: fresh branches
            else Assert.All(assignments, a => Assert.NotNull(a.Init));

            // The live global is the exact weighted sum of what the clients uploaded (their whole adapters).
            var model = round.Model!;
            using var live = await h.ReadAsync(model.Live!);
            foreach (var m in live.Modules)
            {
                using var scope = NewDisposeScope();
                var expected = updates.Select(u => u[m.Name].DenseDelta(float64) / 3.0).Aggregate((x, y) => x + y);
                AssertClose(expected, m.DenseDelta(float64), 1e-5);
            }
            foreach (var u in updates) u.Dispose();

            // Each rank's init: the best rank-r approximation of the global (dense SVD on this small model).
            foreach (var init in model.Inits)
            {
                using var adapter = await h.ReadAsync(init.Adapter);
                foreach (var m in adapter.Modules)
                {
                    using var scope = NewDisposeScope();
                    Assert.Equal(init.Rank, m.Rank);
                    Assert.Equal(2.0, m.Scale, 12); // the client's own alpha (alpha per rank 2)
                    var (u, s, vh) = linalg.svd(live[m.Name].DenseDelta(float64), fullMatrices: false);
                    var best = u.narrow(1, 0, init.Rank).matmul(diag(s.narrow(0, 0, init.Rank))).matmul(vh.narrow(0, 0, init.Rank));
                    AssertClose(best, m.DenseDelta(float64), 1e-5);
                }
            }
        }
    }

    [Fact]
    public async Task Hetlora_hands_each_client_the_live_adapter_truncated_to_its_rank()
    {
        await using var h = await StrategyHarness.StartAsync(clients: 3);
        string fed = await h.CreateAsync("hetlora", [2, 4, 8]);
        for (int t = 1; t <= Rounds; t++)
        {
            var before = (await h.FederationAtAsync(fed, t)).Model!;
            using var live = await h.ReadAsync(before.Live!);
            Assert.Equal(8, live.Modules.Max(m => m.Rank)); // kept at the largest rank
            foreach (var init in before.Inits)
            {
                using var adapter = await h.ReadAsync(init.Adapter);
                foreach (var m in adapter.Modules)
                {
                    using var scope = NewDisposeScope();
                    var g = live[m.Name];
                    Assert.True(Same(m.A, g.A.narrow(0, 0, init.Rank)));
                    AssertClose(g.B.narrow(1, 0, init.Rank).to(float64) * g.Scale, m.B.to(float64) * m.Scale, 1e-6);
                }
            }
            var (round, updates, _) = await h.RunRoundAsync(fed, t, 3);
            foreach (var u in updates) u.Dispose();
            Assert.Equal(RoundStatus.Closed, round.Status);
        }
    }

    [Fact]
    public async Task Flora_merges_each_rounds_exact_stack_into_the_history_and_clients_start_fresh()
    {
        await using var h = await StrategyHarness.StartAsync(clients: 3);
        string fed = await h.CreateAsync("flora", [2, 4, 8]);
        for (int t = 1; t <= Rounds; t++)
        {
            var (round, updates, assignments) = await h.RunRoundAsync(fed, t, 3);
            Assert.Equal(RoundStatus.Closed, round.Status);
            Assert.All(assignments, a => { Assert.Null(a.Init); Assert.Equal(t - 1, a.History!.Length); });
            Assert.Single(assignments.Select(a => a.Seed).Distinct()); // the round's seed; each client mixes in its own
            var model = round.Model!;
            Assert.Null(model.Live);
            Assert.Equal(Enumerable.Range(1, t), model.History.Select(d => d.Round));
            using var stack = await h.ReadAsync(model.History[^1].Adapter);
            Assert.Equal(14, stack.Modules.Max(m => m.Rank));
            foreach (var m in stack.Modules)
            {
                using var scope = NewDisposeScope();
                var expected = updates.Select(u => u[m.Name].DenseDelta(float64) / 3.0).Aggregate((x, y) => x + y);
                AssertClose(expected, m.DenseDelta(float64), 1e-5);
            }
            foreach (var u in updates) u.Dispose();
        }

        // The whole model users download: base + every round's delta, as one adapter (exact), and truncated with its error.
        var view = await h.FinishedAsync(fed);
        var federation = h.Grains.GetGrain<IFederationGrain>(fed);
        Assert.Equal(FederationStatus.Completed, view.Status);
        var rounds = new List<LoraAdapter>();
        foreach (var d in view.Model!.History) rounds.Add(await h.ReadAsync(d.Adapter));
        try
        {
            Assert.NotNull(view.FinalModel);
            Assert.Equal(view.FinalModel, (await federation.ExportModelAsync()).Payload);
            using var exact = await h.ReadAsync(view.FinalModel!);
            var export = await federation.ExportModelAsync(rank: 6);
            using var truncated = await h.ReadAsync(export.Payload);
            var report = await h.ReadReportAsync(export.Payload);
            foreach (var m in exact.Modules)
            {
                using var scope = NewDisposeScope();
                var sum = rounds.Select(r => r[m.Name].DenseDelta(float64)).Aggregate((x, y) => x + y);
                AssertClose(sum, m.DenseDelta(float64), 1e-5);
                Assert.Equal(42, m.Rank); // 3 rounds of 2 + 4 + 8
                var svd = linalg.svdvals(sum);
                double kept = svd.narrow(0, 0, 6).square().sum().item<double>(), all = svd.square().sum().item<double>();
                var module = report!.Modules.Single(x => x.Name == m.Name);
                Assert.Equal(Math.Sqrt(1 - kept / all), module.RelativeError, 1e-6);
                Assert.Equal(6, truncated[m.Name].Rank);
            }
        }
        finally
        {
            foreach (var r in rounds) r.Dispose();
        }
    }

    [Fact]
    public async Task A_median_rounds_view_reports_the_error_of_the_low_rank_global_it_stored()
    {
        await using var h = await StrategyHarness.StartAsync(clients: 3);
        string fed = await h.CreateAsync("flora", [2, 4, 8], rounds: 1, rule: "median");
        var (round, updates, _) = await h.RunRoundAsync(fed, 1, 3);
        Assert.Equal(RoundStatus.Closed, round.Status);
        using var global = await h.ReadAsync(round.Global!);
        double worst = 0;
        foreach (var m in global.Modules)
        {
            using var scope = NewDisposeScope();
            Assert.Equal(8, m.Rank); // written at the largest client rank
            var exact = stack(updates.Select(u => u[m.Name].DenseDelta(float64)).ToList()).kthvalue(2, 0, false).Item1; // the lower median of 3
            worst = Math.Max(worst, (exact - m.DenseDelta(float64)).norm().item<double>() / exact.norm().item<double>());
        }
        foreach (var u in updates) u.Dispose();

        Assert.True(worst > 1e-3, $"the rank-8 global should not be exact here (error {worst})");
        Assert.Equal(worst, round.FactoringError!.Value, 1e-5);
    }

    [Fact]
    public async Task A_flora_round_with_an_energy_threshold_stores_the_smallest_rank_keeping_it_and_reports_its_error()
    {
        await using var h = await StrategyHarness.StartAsync(clients: 3);
        string fed = await h.CreateAsync("flora", [2, 4, 8], rounds: 1, globalEnergy: 0.9);
        var (round, updates, _) = await h.RunRoundAsync(fed, 1, 3);
        Assert.Equal(RoundStatus.Closed, round.Status);
        using var global = await h.ReadAsync(round.Global!);
        Assert.Equal(round.Global, round.Model!.History.Single().Adapter); // what joins the history is the truncated global
        double worst = 0;
        foreach (var m in global.Modules)
        {
            using var scope = NewDisposeScope();
            var exact = updates.Select(u => u[m.Name].DenseDelta(float64) / 3.0).Aggregate((x, y) => x + y);
            var energy = linalg.svdvals(exact).square();
            var cumulative = energy.cumsum(0) / energy.sum();
            int smallest = (int)cumulative.lt(0.9).sum().item<long>() + 1; // the first rank whose leading energy reaches 0.9
            Assert.Equal(smallest, m.Rank);
            double error = (exact - m.DenseDelta(float64)).norm().item<double>() / exact.norm().item<double>();
            Assert.True(error <= Math.Sqrt(1 - 0.9) + 1e-6, $"module {m.Name}: error {error} above sqrt(1 - tau)");
            worst = Math.Max(worst, error);
        }
        foreach (var u in updates) u.Dispose();

        Assert.True(global.Modules.Any(m => m.Rank < 14), "tau = 0.9 should drop components of some module");
        Assert.Equal(worst, round.FactoringError!.Value, 1e-4);
    }

    [Fact]
    public async Task A_flora_round_stacked_past_a_modules_dimensions_stores_it_exactly_at_rank_min_d_and_reports_no_error()
    {
        await using var h = await StrategyHarness.StartAsync(clients: 3);
        string fed = await h.CreateAsync("flora", [8, 16, 16], rounds: 1); // R = 40: past v_proj's 32 x 64, within q_proj's 64 x 64
        var (round, updates, _) = await h.RunRoundAsync(fed, 1, 3);
        Assert.Equal(RoundStatus.Closed, round.Status);
        using var global = await h.ReadAsync(round.Global!);
        foreach (var m in global.Modules)
        {
            using var scope = NewDisposeScope();
            Assert.Equal(m.TargetName == "v_proj" ? 32 : 40, m.Rank);
            var exact = updates.Select(u => u[m.Name].DenseDelta(float64) / 3.0).Aggregate((x, y) => x + y);
            AssertClose(exact, m.DenseDelta(float64), 1e-5);
        }
        foreach (var u in updates) u.Dispose();
        Assert.Equal(0.0, round.FactoringError);
    }

    [Fact]
    public async Task A_history_compacted_every_two_rounds_is_one_delta_whose_recorded_error_is_the_dense_svd_error()
    {
        await using var h = await StrategyHarness.StartAsync(clients: 3);
        string fed = await h.CreateAsync("flora", [2, 4, 8], compaction: new HistoryCompaction(2, Rank: 5));
        var (first, u1, _) = await h.RunRoundAsync(fed, 1, 3);
        var (second, u2, _) = await h.RunRoundAsync(fed, 2, 3);
        Assert.Null(first.CompactionError);
        var compacted = Assert.Single(second.Model!.History);
        using var delta = await h.ReadAsync(compacted.Adapter);
        double worst = 0;
        foreach (var m in delta.Modules)
        {
            using var scope = NewDisposeScope();
            Assert.Equal(5, m.Rank);
            var exact = u1.Concat(u2).Select(u => u[m.Name].DenseDelta(float64) / 3.0).Aggregate((x, y) => x + y);
            var s = linalg.svdvals(exact);
            worst = Math.Max(worst, Math.Sqrt(s.narrow(0, 5, s.shape[0] - 5).square().sum().item<double>() / s.square().sum().item<double>()));
        }
        Assert.Equal(worst, second.CompactionError!.Value, 1e-6);
        var recorded = (await h.FederationAtAsync(fed, 3)).History.Single(r => r.Round == 2);
        Assert.Equal(second.CompactionError, recorded.CompactionError);
        foreach (var u in u1.Concat(u2)) u.Dispose();

        // A client of round 3 merges the one compacted delta.
        var (third, u3, assignments) = await h.RunRoundAsync(fed, 3, 3);
        foreach (var u in u3) u.Dispose();
        Assert.All(assignments, a => Assert.Equal([compacted], a.History!));
        Assert.Equal(RoundStatus.Closed, third.Status);
    }

    /// <summary>Bit for bit: same dtype, shape and every value.</summary>
    static bool Same(Tensor x, Tensor y)
    {
        using var scope = NewDisposeScope();
        return x.dtype == y.dtype && x.shape.SequenceEqual(y.shape) && x.eq(y).all().item<bool>();
    }

    static void AssertSameDelta(LoraAdapter expected, LoraAdapter actual, double tolerance)
    {
        foreach (var m in expected.Modules)
        {
            using var scope = NewDisposeScope();
            AssertClose(m.DenseDelta(float64), actual[m.Name].DenseDelta(float64), tolerance);
        }
    }

    static void AssertClose(Tensor expected, Tensor actual, double relative)
    {
        double error = (actual - expected).norm().item<double>(), scale = expected.norm().item<double>();
        Assert.True(error <= relative * Math.Max(scale, 1e-12), $"relative error {error / scale:E3} > {relative:E1}");
    }
}
