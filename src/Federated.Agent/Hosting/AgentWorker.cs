using Federated.Agent.Remote;
using Federated.Agent.Rounds;
using Federated.Agent.State;
using Federated.Agent.Trust;
using Federated.Core.Adapters;
using Federated.Protocol.V1;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Federated.Agent.Hosting;

/// <summary>
/// The agent's loop: GetTask, then wait, stop (federation done) or run the round; again. Transient failures are
/// retried inside each call; a refusal (invalid, denied, closed round) or a round that cannot be trained is logged
/// with its reason and the loop asks for the next task. Ctrl-C/SIGTERM cancels between training steps; what was
/// done is already persisted.
/// </summary>
public sealed class AgentWorker(CoordinatorConnection connection, Enrollment enrollment, CredentialRotation rotation, RoundRunner rounds, RetryPolicy retry,
    AgentOptions options, AgentExit exit, IHostApplicationLifetime lifetime, ILogger<AgentWorker> logger) : BackgroundService
{
    static readonly TimeSpan MinWait = TimeSpan.FromMilliseconds(200), MaxWait = TimeSpan.FromMinutes(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield(); // let the host finish starting
        try
        {
            await enrollment.EnsureAsync(stoppingToken);
            await LoopAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            logger.LogInformation("Stopping: progress is saved in {StateDirectory}", Path.GetFullPath(options.StateDirectory));
        }
        catch (Exception e) when (e is AgentStateException or RpcException or CoordinatorTlsException or CoordinatorInputException)
        {
            logger.LogCritical("fed-agent stopped: {Reason}", RetryPolicy.Describe(e));
            exit.Code = AgentExit.Failed;
        }
        catch (Exception e)
        {
            logger.LogCritical(e, "fed-agent stopped unexpectedly");
            exit.Code = AgentExit.Failed;
        }
        finally
        {
            lifetime.StopApplication();
        }
    }

    async Task LoopAsync(CancellationToken stop)
    {
        var failures = new Backoff(options.PollInterval, options.MaxRetryDelay);
        int failed = 0;
        string? lastWait = null, lastFailure = null;
        while (true)
        {
            try
            {
                var response = await retry.RunAsync("GetTask", ct => connection.Client.GetTaskAsync(new GetTaskRequest(), connection.Options(ct, TimeSpan.FromSeconds(30))).ResponseAsync, stop);
                await rotation.AfterGetTaskAsync(response.CredentialExpiresAt, stop);
                switch (response.OutcomeCase)
                {
                    case GetTaskResponse.OutcomeOneofCase.Done:
                        var done = response.Done;
                        logger.LogInformation("Federation {Outcome}: {Reason}{Final}", done.Status == DoneStatus.Failed ? "failed" : "finished",
                            CoordinatorText.Preview(done.Reason, CoordinatorLimits.MaxTextLength), FinalModel(done));
                        return;
                    case GetTaskResponse.OutcomeOneofCase.Wait:
                        if (response.Wait.Reason != lastWait) logger.LogInformation("Waiting: {Reason}", CoordinatorText.Preview(response.Wait.Reason, CoordinatorLimits.MaxTextLength));
                        lastWait = response.Wait.Reason;
                        await Task.Delay(Clamp(response.Wait.RetryAfter?.ToTimeSpan() ?? options.PollInterval), stop);
                        break;
                    case GetTaskResponse.OutcomeOneofCase.Task:
                        lastWait = null;
                        if (!await rounds.RunAsync(response.Task, stop)) await Task.Delay(options.PollInterval, stop);
                        break;
                    default:
                        logger.LogWarning("The coordinator answered GetTask with nothing this agent understands; asking again");
                        await Task.Delay(options.PollInterval, stop);
                        break;
                }
                failed = 0;
                lastFailure = null;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unauthenticated && !stop.IsCancellationRequested)
            {
                // A coordinator that refuses every fresh credential must not drive Register in a tight loop.
                if (failed > 0) await Task.Delay(failures.Delay(failed - 1), stop);
                failed++;
                await enrollment.ReenrollAsync(CoordinatorText.Preview(e.Status.Detail, CoordinatorLimits.MaxTextLength), CredentialRefusals.Of(e), stop);
            }
            catch (Exception e) when (!stop.IsCancellationRequested && IsRoundFailure(e))
            {
                var delay = failures.Delay(failed++);
                string reason = RetryPolicy.Describe(e);
                // The same refusal again (a coordinator that keeps sending the same bad task) is one line, not one per poll.
                var level = reason == lastFailure ? LogLevel.Debug : LogLevel.Error;
                logger.Log(level, "Round not completed: {Reason}; asking for the next task in {Delay:0.0} s", reason, delay.TotalSeconds);
                lastFailure = reason;
                await Task.Delay(delay, stop);
            }
        }
    }

    /// <summary>Refusals and untrainable tasks: the next task may be fine, so the agent keeps going.</summary>
    static bool IsRoundFailure(Exception e) => e is RpcException or AdapterException or ArgumentException or IOException or CoordinatorInputException;

    /// <summary>Done's model reference as the log states it; only a well-formed one is quoted.</summary>
    string FinalModel(Done done)
    {
        if (done.FinalModel is null) return "";
        try
        {
            var model = AdapterReference.From(done.FinalModel, "final_model", options.MaxAdapterBytes);
            return $"; its model (base + every round, exact) is adapter {model.Sha256} ({model.Size:N0} bytes)";
        }
        catch (CoordinatorInputException e)
        {
            return $"; its model reference is refused ({e.Message})";
        }
    }

    static TimeSpan Clamp(TimeSpan wait) => wait < MinWait ? MinWait : wait > MaxWait ? MaxWait : wait;
}
