using Federated.Agent.Hosting;
using Federated.Agent.Remote;
using Federated.Agent.State;
using Federated.Agent.Trust;
using Federated.Core.Formats;
using Federated.Protocol.V1;
using Federated.Training.Rounds;
using Federated.Training.Training;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Federated.Agent.Rounds;

/// <summary>
/// One training task from start to finish, resumable at every phase: download the global adapter, merge the chain
/// of globals into the base, train fresh LoRA branches, persist the update, upload it, report metrics.
/// </summary>
public sealed class RoundRunner(CoordinatorConnection connection, AgentStateStore state, AdapterDownloader downloader, UpdateUploader uploader,
    LocalModel model, RetryPolicy retry, AgentOptions options, ILogger<RoundRunner> logger)
{
    /// <returns>True when the agent did something; false when the round needs nothing more from it.</returns>
    /// <exception cref="CoordinatorInputException">The task, or an adapter it names, is refused (<see cref="TrainingTaskCheck"/>, <see cref="AdapterFit"/>).</exception>
    public async Task<bool> RunAsync(TrainingTask task, CancellationToken cancellation)
    {
        var accepted = TrainingTaskCheck.Accept(task, options.FederationId!, options.MaxAdapterBytes, model.Layers);
        var progress = state.LoadProgress();
        var action = ResumePlanner.Decide(task.FederationId, task.Round, task.Submitted, progress, ResumePlanner.UpdateFileIntact(progress));
        switch (action)
        {
            case RoundAction.Nothing:
                return false;
            case RoundAction.ReportMetrics:
                await ReportAsync(progress!, cancellation);
                return true;
            case RoundAction.Upload:
                logger.LogInformation("Round {Federation}/{Round}: the update was trained before a restart ({Sha256}); uploading it, not training again",
                    task.FederationId, task.Round, progress!.UpdateSha256);
                break;
            default:
                progress = await TrainAsync(accepted, cancellation);
                break;
        }
        var (uploaded, result) = await uploader.UploadAsync(progress, cancellation);
        logger.LogInformation("Round {Federation}/{Round}: update {Status}; sent {Sent:N0} of {Size:N0} bytes (resumed at byte {ResumedAt:N0})",
            task.FederationId, task.Round, result.Status.ToString().ToUpperInvariant(), result.BytesSent, uploaded.UpdateSize, result.ResumedAt);
        await ReportAsync(uploaded, cancellation);
        return true;
    }

    async Task<RoundProgress> TrainAsync(AcceptedTask accepted, CancellationToken cancellation)
    {
        var task = accepted.Task;
        var history = await DownloadHistoryAsync(accepted, cancellation);
        var initRef = accepted.Init;
        if (initRef is not null) await DownloadFittingAsync(initRef, "init adapter", accepted, cancellation);
        // An init fixes the rank (the federation handed this client its share at the assigned rank); fresh branches may train lower.
        int rank = initRef is null && options.MaxRank is { } max ? Math.Min(max, task.Rank) : task.Rank;
        if (initRef is not null && options.MaxRank < task.Rank)
            logger.LogWarning("Round {Federation}/{Round}: Agent:MaxRank {MaxRank} is below the assigned rank {Rank}, but {Strategy} continues the adapter it hands out at that rank",
                task.FederationId, task.Round, options.MaxRank, task.Rank, task.Strategy);
        // Below the assigned rank, alpha shrinks with it so the LoRA scale alpha / r stays what the federation chose.
        double alpha = task.LoraAlpha * rank / task.Rank;
        // The coordinator's seed makes fresh branches reproducible per federation; the agent's own seed varies its data order.
        long seed = unchecked(task.Seed ^ (options.Seed * 100_003L + task.Round));
        var plan = new ClientRoundTask(task.TargetModules, rank, alpha, task.Training.LoraDropout,
            task.Training.LocalSteps, task.Training.BatchSize, task.Training.LearningRate, seed, task.BaseModel, task.Frozen == FrozenFactors.A);
        logger.LogInformation("Round {Federation}/{Round}: {Strategy}, training rank {Rank} (assigned {Assigned}) on {Modules} for {Steps} steps, batch {Batch}, lr {LearningRate:G3}, {Examples:N0} examples, {Globals} history delta(s) merged, {Start}",
            task.FederationId, task.Round, task.Strategy, rank, task.Rank, string.Join(",", task.TargetModules), plan.Steps, plan.BatchSize, plan.LearningRate, model.TrainingExamples, history.Count,
            initRef is null ? "fresh branches" : $"continuing {initRef.Sha256[..12]}{(plan.FreezeA ? " with A frozen" : "")}");

        string updatePath = state.UpdatePath(task.FederationId, task.Round);
        var compression = UploadCompression.FromOptions(options);
        // Everything that shapes the training (the record prints its values, but not a list's): a checkpoint of anything else is not continued.
        string run = string.Join("|", task.FederationId, task.Round, plan with { TargetModules = [] }, string.Join(",", plan.TargetModules),
            string.Join(",", history.Select(h => h.Adapter.Sha256)), initRef?.Sha256);
        var checkpoint = new TrainingCheckpoint(state.CheckpointPath(task.FederationId, task.Round), options.CheckpointInterval, run);
        var update = await Task.Run(() =>
        {
            model.MergeGlobals(history.Select(h => (h.Adapter.Sha256, state.AdapterPath(h.Adapter.Sha256))).ToList());
            using var init = initRef is null ? null : AdapterPayload.ReadFile(state.AdapterPath(initRef.Sha256), $"init {initRef.Sha256}");
            return model.Train(plan, updatePath, new StepLogger(logger, plan.Steps), cancellation, compression, checkpoint, init);
        }, cancellation);
        if (update.Metrics.TryGetValue("resumed_at_step", out var resumedAt))
            logger.LogInformation("Round {Federation}/{Round}: continued local training from its checkpoint at step {Step} of {Steps}",
                task.FederationId, task.Round, resumedAt, plan.Steps);

        var progress = new RoundProgress(task.FederationId, task.Round, RoundPhase.Trained, update.Path, update.Sha256,
            update.Size, UploadId: null, update.ExampleCount, rank, update.Metrics);
        state.SaveProgress(progress);
        state.DeleteCheckpoints();
        state.DeleteUpdatesExcept(update.Path); // earlier rounds' updates are in or moot
        logger.LogInformation("Round {Federation}/{Round}: trained; loss {First:F4} -> {Last:F4}{Eval}, update {Sha256} ({Size:N0} bytes{Compression})",
            task.FederationId, task.Round, update.Metrics["train_loss_first"], update.Metrics["train_loss"],
            update.Metrics.TryGetValue("eval_loss", out var eval) ? $", eval loss {update.Metrics["eval_loss_before"]:F4} -> {eval:F4}" : "", update.Sha256, update.Size,
            update.Compression is { } c ? $", {compression!.Scheme}: {c.Ratio:F3} of float32, {c.CompressedBytes:N0} of {c.Float32Bytes:N0} payload bytes" : "");
        return progress;
    }

    /// <summary>
    /// The history to merge, oldest first: the task lists every delta, so an agent that missed rounds catches up. (The
    /// latest global alone is not merged: under a continuing strategy it is the live adapter, which the task hands out
    /// to continue, never to merge.)
    /// </summary>
    async Task<IReadOnlyList<(int Round, AdapterReference Adapter)>> DownloadHistoryAsync(AcceptedTask accepted, CancellationToken cancellation)
    {
        for (int i = 0; i < accepted.History.Count; i++)
            await DownloadFittingAsync(accepted.History[i].Adapter, $"history delta {i}", accepted, cancellation);
        return accepted.History;
    }

    /// <summary>Downloads an adapter and checks its header against the local model before anything reads its tensors.</summary>
    async Task DownloadFittingAsync(AdapterReference adapter, string role, AcceptedTask accepted, CancellationToken cancellation)
    {
        try
        {
            string path = await downloader.DownloadAsync(adapter, cancellation);
            try
            {
                AdapterFit.Check(path, adapter, role, accepted.Task.BaseModel, accepted.Layers);
            }
            catch (CoordinatorInputException e)
            {
                downloader.Refuse(adapter, e.Message);
                throw;
            }
        }
        catch (CoordinatorInputException e)
        {
            throw new CoordinatorInputException($"round {accepted.Task.Round}: {e.Message}");
        }
    }

    async Task ReportAsync(RoundProgress progress, CancellationToken cancellation)
    {
        if (progress.Metrics is null || progress.MetricsReported) return;
        var request = new ReportMetricsRequest { FederationId = progress.FederationId, Round = progress.Round };
        request.Metrics.Add(progress.Metrics);
        try
        {
            await retry.RunAsync("ReportMetrics", ct => connection.Client.ReportMetricsAsync(request, connection.Options(ct, TimeSpan.FromSeconds(30))).ResponseAsync, cancellation);
        }
        catch (RpcException e) when (!RetryPolicy.IsTransient(e))
        {
            logger.LogWarning("Round {Federation}/{Round}: metrics not reported ({Reason})", progress.FederationId, progress.Round, RetryPolicy.Describe(e));
        }
        state.SaveProgress(progress with { MetricsReported = true });
    }

    /// <summary>About ten progress lines per round (the first step, then every tenth, or every 10 s in long rounds), with step, loss and throughput as fields.</summary>
    sealed class StepLogger(ILogger logger, int steps) : IProgress<TrainingProgress>
    {
        readonly int _every = Math.Max(1, steps / 10);
        readonly System.Diagnostics.Stopwatch _sinceLast = System.Diagnostics.Stopwatch.StartNew();

        public void Report(TrainingProgress p)
        {
            if (p.Step != 1 && p.Step % _every != 0 && p.Step != p.TotalSteps && _sinceLast.Elapsed < TimeSpan.FromSeconds(10)) return;
            _sinceLast.Restart();
            logger.LogInformation("step {Step}/{TotalSteps} loss {Loss:F4} lr {LearningRate:G3} {TokensPerSecond:N0} tokens/s",
                p.Step, p.TotalSteps, p.Loss, p.LearningRate, p.TokensPerSecond);
        }
    }
}
