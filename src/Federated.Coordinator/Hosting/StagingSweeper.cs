using Federated.Storage;
using Federated.Contracts;

namespace Federated.Coordinator.Hosting;

/// <summary>
/// Removes abandoned uploads on a timer (<see cref="StagingOptions.SweepInterval"/>), so their disk or Redis memory and
/// their share of the staging quota come back even when no other upload begins.
/// </summary>
public sealed class StagingSweeper(IUploadStaging staging, StagingOptions options, ILogger<StagingSweeper> logger, TimeProvider? time = null)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.SweepInterval, time ?? TimeProvider.System);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
                await SweepAsync(stoppingToken);
        }
        // Stopping (or a host disposed without stopping, which cancels the token the same way): nothing left to do.
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    async Task SweepAsync(CancellationToken stoppingToken)
    {
        try
        {
            int removed = await staging.SweepAsync(stoppingToken);
            if (removed > 0)
                logger.LogInformation("Removed {Uploads} uploads idle for longer than {IdleTimeout}", removed, options.IdleTimeout);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Sweeping the upload staging failed; retrying in {Interval}", options.SweepInterval);
        }
    }
}
