using TorchSharp;

namespace Federated.Training.Models;

/// <summary>
/// Scalars that live as long as the process. TorchSharp turns plain numbers into native scalars inside its operators,
/// including the alpha = 1 of <c>a + b</c>, and leaves them to the finalizer (dotnet/TorchSharp#1496): a collection the
/// runtime starts mid-call can free one in use (it did, in RmsNorm, twice in long simulations). The model's forward pass
/// passes these, or scalars it holds in a <c>using</c> variable until the call returns.
/// </summary>
static class HeldScalars
{
    public static readonly Scalar One = 1.0.ToScalar();
}
