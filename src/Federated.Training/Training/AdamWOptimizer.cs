using Federated.Core.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Federated.Training.Training;

/// <summary>
/// AdamW (Loshchilov and Hutter; PyTorch's <c>torch.optim.AdamW</c> without amsgrad): per parameter, with bias-corrected
/// moments m and v, p &lt;- p (1 - lr wd) - lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps). The same operations in the
/// same order as TorchSharp's <c>optim.AdamW</c>, so the two give the same bits; written here because that one converts
/// every number on the spot into a scalar the finalizer may free while libtorch still reads it (see <see cref="NativeWork"/>),
/// which killed training processes under collections. Every scalar here is held until its call returns.
/// </summary>
public sealed class AdamWOptimizer : IDisposable
{
    readonly (Parameter Parameter, Tensor Mean, Tensor Square)[] _state;
    readonly double _beta1, _beta2, _epsilon, _weightDecay;

    public AdamWOptimizer(IReadOnlyList<Parameter> parameters, double learningRate, double beta1, double beta2, double epsilon, double weightDecay)
    {
        (LearningRate, _beta1, _beta2, _epsilon, _weightDecay) = (learningRate, beta1, beta2, epsilon, weightDecay);
        using var _ = no_grad();
        _state = parameters.Select(p => (p, zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope())).ToArray();
    }

    public double LearningRate { get; set; }

    /// <summary>Steps taken (one count for all parameters: every step here updates every parameter that has a gradient).</summary>
    public long Steps { get; private set; }

    /// <summary>One update of every parameter that has a gradient.</summary>
    public void Step()
    {
        Steps++;
        double lr = LearningRate;
        double correction1 = 1 - Math.Pow(_beta1, Steps), correction2 = 1 - Math.Pow(_beta2, Steps);
        using var _ = no_grad();
        using var decay = (1 - lr * _weightDecay).ToScalar();
        using var beta1 = _beta1.ToScalar();
        using var oneMinusBeta1 = (1 - _beta1).ToScalar();
        using var beta2 = _beta2.ToScalar();
        using var oneMinusBeta2 = (1 - _beta2).ToScalar();
        using var root2 = Math.Sqrt(correction2).ToScalar();
        using var epsilon = _epsilon.ToScalar();
        using var stepSize = (-(lr / correction1)).ToScalar();
        foreach (var (parameter, mean, square) in _state)
        {
            if (parameter.grad is not { } grad) continue;
            using (grad)
            {
                parameter.mul_(decay);
                mean.mul_(beta1).add_(grad, oneMinusBeta1);
                square.mul_(beta2).addcmul_(grad, grad, oneMinusBeta2);
                using var root = square.sqrt();
                using var denominator = root.div(root2).add_(epsilon, HeldScalars.One);
                parameter.addcdiv_(mean, denominator, stepSize);
            }
        }
    }

    /// <summary>The step count and both moments of every parameter, in order.</summary>
    public void Save(BinaryWriter writer)
    {
        writer.Write(Steps);
        writer.Write(_state.Length);
        foreach (var (_, mean, square) in _state)
        {
            mean.Save(writer);
            square.Save(writer);
        }
    }

    /// <summary>Reads what <see cref="Save"/> wrote for the same parameters, into copies first: a file that breaks off leaves this untouched.</summary>
    /// <exception cref="InvalidDataException">The state is another optimiser's.</exception>
    public void Load(BinaryReader reader)
    {
        long step = reader.ReadInt64();
        if (step < 0 || reader.ReadInt32() != _state.Length) throw new InvalidDataException("the saved optimiser state is for other parameters");
        var loaded = new List<Tensor>(2 * _state.Length);
        try
        {
            foreach (var (parameter, _, _) in _state)
                for (int moment = 0; moment < 2; moment++)
                {
                    var value = Tensor.Load(reader);
                    loaded.Add(value);
                    if (value.dtype != parameter.dtype || !value.shape.SequenceEqual(parameter.shape))
                        throw new InvalidDataException("the saved optimiser state is for other parameters");
                }
            using var _ = no_grad();
            for (int i = 0; i < _state.Length; i++)
            {
                _state[i].Mean.copy_(loaded[2 * i]);
                _state[i].Square.copy_(loaded[2 * i + 1]);
            }
            Steps = step;
        }
        finally
        {
            foreach (var value in loaded) value.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var (_, mean, square) in _state)
        {
            mean.Dispose();
            square.Dispose();
        }
    }
}
