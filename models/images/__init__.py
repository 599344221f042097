"""Image generators of the course, each trained by lmgen: a convolutional autoencoder, a VAE, a
DCGAN and a diffusion model (DDPM training, DDPM and DDIM sampling), plus the small classifier
whose features measure them. PyTorch only; no LangChain."""
