using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Attacks;

/// <summary>Rewrites the factors of the attacker's own update module by module, keeping ranks and alphas.</summary>
static class FactorTransform
{
    /// <param name="map">Gets fresh float32 copies of (A, B), which it may modify or return.</param>
    public static LoraAdapter Apply(LoraAdapter update, Func<Tensor, Tensor, (Tensor A, Tensor B)> map) =>
        new(update.Modules.Select(m =>
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var (a, b) = map(m.A.to(float32, copy: true), m.B.to(float32, copy: true));
            return m.With(a.contiguous().MoveToOuterDisposeScope(), b.contiguous().MoveToOuterDisposeScope(), m.Alpha);
        }).ToList(), update.BaseModel);
}
