using Federated.Coordinator.Hosting;
using Federated.Core.Runtime;
using Serilog;

NativeAllocator.RetainFreedMemory(); // rounds aggregate into the same large buffers again and again: reuse freed pages
MklDispatch.UseAvx512OnAmd(); // before any tensor work: MKL's AVX-512 kernels on AMD too (logged once serving)

Log.Logger = CoordinatorLogging.CreateBootstrapLogger();
try
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddCoordinator();   // options, logging, Orleans silo, metrics + health, admin API, agent gRPC

    var app = builder.Build();
    app.UseCoordinator();
    await app.RunAsync();
    return 0;
}
catch (Exception e) when (CoordinatorStartup.OperatorReason(e) is { } reason)
{
    // Bad settings or a port in use: one line that says which, not a stack trace.
    Log.Fatal("coordinator not started: {Reason}", reason);
    return 1;
}
catch (Exception e) when (e is not HostAbortedException)
{
    Log.Fatal(e, "coordinator stopped unexpectedly");
    return 1;
}
finally
{
    await Log.CloseAndFlushAsync();
}
