using Federated.Core.Adapters;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Core.Federation;

/// <summary>Brings a round's aggregate back to the live adapter's rank per module, keeping its dW.</summary>
static class LivePadding
{
    /// <param name="keepLiveA">Use the live A (FFA's frozen A, of which the aggregate's A is a prefix); else pad A with zero rows.</param>
    public static LoraAdapter PadTo(LoraAdapter live, LoraAdapter aggregate, bool keepLiveA)
    {
        if (!keepLiveA && aggregate.Modules.All(m => m.Rank >= live[m.Name].Rank)) return aggregate;
        try
        {
            var modules = aggregate.Modules.Select(m =>
            {
                var target = live[m.Name];
                if (m.Rank >= target.Rank && !keepLiveA) return m.Clone(); // another module needed padding
                using var scope = NewDisposeScope();
                // B' = [B s_agg / s_live, 0], so s_live B' A' = s_agg B A on the aggregate's rows.
                var b = zeros(m.OutFeatures, target.Rank, m.DType, m.B.device);
                using var ratio = (m.Scale / target.Scale).ToScalar();
                b.narrow(1, 0, m.Rank).copy_(m.B.mul(ratio));
                Tensor a;
                if (keepLiveA) a = target.A.to(m.DType).clone();
                else
                {
                    a = zeros(target.Rank, m.InFeatures, m.DType, m.A.device);
                    a.narrow(0, 0, m.Rank).copy_(m.A);
                }
                return m.With(a.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope(), target.Alpha, target.UseRsLora);
            }).ToList();
            return new LoraAdapter(modules, aggregate.BaseModel);
        }
        finally
        {
            aggregate.Dispose();
        }
    }
}
