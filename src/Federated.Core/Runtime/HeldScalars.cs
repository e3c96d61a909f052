using TorchSharp;

namespace Federated.Core.Runtime;

/// <summary>
/// Scalars that live as long as the process. TorchSharp turns plain numbers into native scalars inside its operators,
/// including the alpha = 1 of <c>a + b</c> and <c>a.add_(b)</c>, and leaves them to the finalizer (dotnet/TorchSharp#1496):
/// a collection the runtime starts mid-call can free one in use (it did in RmsNorm in long simulations, twice: its add's
/// alpha, then the 2 inside square(); in TorchSharp's AdamW, now <c>AdamWOptimizer</c>; and in FLoRA's dense
/// sum under collections forced from another thread: FinalizerRaceTests). Code that calls TorchSharp passes these, or scalars
/// it holds in a <c>using</c> variable until the call returns, never a number converted on the spot.
/// </summary>
public static class HeldScalars
{
    public static readonly Scalar One = 1.0.ToScalar();
    public static readonly Scalar Zero = 0.0.ToScalar();
    /// <summary>For x.pow(Two): TorchSharp's <c>square()</c> is <c>pow(2)</c> with a scalar converted on the spot.</summary>
    public static readonly Scalar Two = 2L.ToScalar();
}
